//! Routes as data: host, path, method and header matches; the most specific match wins.

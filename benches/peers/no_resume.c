/*
 * no_resume.so: LD_PRELOAD shim for wrk, used by benches/peers/run.py for the *-https scenarios.
 *
 * wrk reuses one SSL object per connection slot and resets it with SSL_clear() between
 * connections. SSL_clear() keeps the last session, so with TLS 1.3 session tickets (nginx,
 * HAProxy and rustls all issue them by default) every reconnect offers a PSK and the server
 * resumes: in `Connection: close` mode almost no handshake is a full one. This shim drops the
 * kept session before each new handshake, so every connection does a full handshake
 * (ECDHE + certificate + CertificateVerify), whatever the server's resumption settings.
 *
 * Built by run.py into its temporary directory:
 *   cc -O2 -shared -fPIC -o no_resume.so no_resume.c -ldl
 * No OpenSSL headers needed: the three functions come from the libssl wrk already loads.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_in_before(const SSL *s);
SSL_SESSION *SSL_get_session(const SSL *s);
int SSL_set_session(SSL *s, SSL_SESSION *session);

int SSL_connect(SSL *s)
{
    static int (*real_connect)(SSL *) = NULL;
    if (real_connect == NULL)
        real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    /* Only before the handshake starts: wrk calls SSL_connect again on WANT_READ/WANT_WRITE. */
    if (SSL_in_before(s) && SSL_get_session(s) != NULL)
        SSL_set_session(s, NULL);
    return real_connect(s);
}

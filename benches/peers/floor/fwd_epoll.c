/* The smallest TCP forwarder we could write with epoll: what the kernel charges per request.
 *
 *     cc -O2 -o fwd_epoll fwd_epoll.c && ./fwd_epoll [-n] LISTEN_PORT BACKEND_PORT...
 *
 * Not a product: a floor for benches/peers/run.py (scenario `floor-epoll`). One thread,
 * round robin over 127.0.0.1 backends, edge-triggered epoll with each socket registered once
 * (close(2) removes it: no EPOLL_CTL_DEL, no EPOLL_CTL_MOD), TCP_NODELAY inherited from the
 * listener, a 16 KiB buffer per direction, half-close passed on with shutdown(2), both sockets
 * closed when both directions have ended or on any error (with -n, when the first direction has
 * ended: nginx stream's default, `proxy_half_close off`). No timeouts, no health, no retries,
 * no limits: everything a real proxy needs beyond moving the bytes is left out on purpose.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define BUF 16384

struct dir {               /* bytes read from one socket, to be written to the other */
    char buf[BUF];
    size_t start, end;
    int eof;               /* the source reached end of stream */
    int done;              /* eof seen, all written, shutdown(dst, SHUT_WR) done */
};

struct conn {
    int fd[2];             /* 0 = client, 1 = upstream */
    int connected;         /* the upstream connect completed */
    struct dir d[2];       /* d[0]: client -> upstream, d[1]: upstream -> client */
};

/* epoll data: the connection pointer with the low bit = which side */
static void *tag(struct conn *c, int side) { return (void *)((uintptr_t)c | (uintptr_t)side); }

static int listen_fd, ep, nbackends, next_backend, half_close = 1;
static struct sockaddr_in *backends;
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

/* Closed connections are freed after the epoll batch: a later event of the same batch can
 * still point at one (close(2) removed its sockets from the set, not from the array). */
static struct conn *closed[1024];
static int nclosed;

static void finish(struct conn *c) {
    close(c->fd[0]);
    close(c->fd[1]);
    c->fd[0] = c->fd[1] = -1;
    closed[nclosed++] = c;     /* at most 2 events per connection, 512 events per batch */
}

/* Moves what it can from src to dst. Returns -1 on an error (the connection must close). */
static int pump(struct conn *c, int from) {
    struct dir *d = &c->d[from];
    int src = c->fd[from], dst = c->fd[!from];
    while (!d->done) {
        if (d->start < d->end) {
            ssize_t n = send(dst, d->buf + d->start, d->end - d->start, MSG_NOSIGNAL);
            if (n < 0) return errno == EAGAIN ? 0 : -1;
            d->start += (size_t)n;
            if (d->start < d->end) return 0;            /* partial: wait for EPOLLOUT */
            d->start = d->end = 0;
        }
        if (d->eof) {
            if (!half_close) return -1;                   /* the first end ends both */
            if (shutdown(dst, SHUT_WR) < 0) return -1;
            d->done = 1;
            break;
        }
        ssize_t n = recv(src, d->buf, BUF, 0);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        if (n == 0) d->eof = 1;
        else d->end = (size_t)n;
    }
    return 0;
}

static void serve(struct conn *c) {
    if (!c->connected || c->fd[0] < 0) return;
    if (pump(c, 0) < 0 || pump(c, 1) < 0 || (c->d[0].done && c->d[1].done)) finish(c);
}

static void accept_all(void) {
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) return;                               /* EAGAIN, or an aborted connection */
        int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct conn *c = calloc(1, sizeof *c);
        if (up < 0 || !c) { close(fd); if (up >= 0) close(up); free(c); continue; }
        int one = 1;
        setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in *b = &backends[next_backend++ % nbackends];
        if (connect(up, (struct sockaddr *)b, sizeof *b) < 0 && errno != EINPROGRESS) {
            close(fd); close(up); free(c); continue;
        }
        c->fd[0] = fd;
        c->fd[1] = up;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
        ev.data.ptr = tag(c, 0);
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        ev.data.ptr = tag(c, 1);
        epoll_ctl(ep, EPOLL_CTL_ADD, up, &ev);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "-n")) {            /* as nginx stream's default */
        half_close = 0;
        argv++;
        argc--;
    }
    nbackends = floor_setup(argc, argv, SOCK_NONBLOCK, &backends, &listen_fd);
    if (nbackends < 0) return 2;
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &lev);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    struct epoll_event evs[512];
    while (!stop) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) { accept_all(); continue; }
            uintptr_t t = (uintptr_t)evs[i].data.ptr;
            struct conn *c = (struct conn *)(t & ~(uintptr_t)1);
            if (c->fd[0] < 0) continue;
            if ((t & 1) && !c->connected) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { finish(c); continue; }
                c->connected = 1;
            }
            serve(c);
        }
        while (nclosed) free(closed[--nclosed]);
    }
    return 0;
}

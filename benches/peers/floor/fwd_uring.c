/* The smallest TCP forwarder we could write with io_uring: the floor fwd_epoll.c measures, with
 * the system calls batched.
 *
 *     cc -O2 -o fwd_uring fwd_uring.c -luring && ./fwd_uring LISTEN_PORT BACKEND_PORT...
 *
 * Not a product: a floor for benches/peers/run.py (scenario `floor-uring`), the same forwarding
 * as fwd_epoll.c (one thread, round robin, TCP_NODELAY inherited from the listener and set on
 * the upstream socket, a 16 KiB buffer per direction, half-close passed on, both sockets closed
 * at the end or on an error), but every accept, connect, recv, send, shutdown and close is an
 * io_uring operation: one multishot accept, and a loop that submits everything queued and waits
 * in a single io_uring_enter(2). The ring is single-issuer with deferred task work (the kernel
 * runs completions only when this thread asks for them), and a recv queued after a send asks
 * the kernel to wait for data first (IORING_RECVSEND_POLL_FIRST) instead of trying a read that
 * is almost sure to find nothing. Needs Linux 6.1 and liburing (apt-get install liburing-dev).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define BUF 16384

enum op { OP_ACCEPT, OP_CONNECT, OP_RECV0, OP_RECV1, OP_SEND0, OP_SEND1, OP_SHUT0, OP_SHUT1 };

struct dir {               /* bytes read from one socket, to be written to the other */
    char buf[BUF];
    size_t start, end;
    int done;              /* end of stream seen and passed on with shutdown(dst, SHUT_WR) */
};

struct conn {
    int fd[2];             /* 0 = client, 1 = upstream */
    int connected;
    int dead;              /* an error: both sockets shut down, waiting for the ops in flight */
    int inflight;          /* operations queued and not yet completed */
    struct dir d[2];       /* d[0]: client -> upstream, d[1]: upstream -> client */
} __attribute__((aligned(8)));

static struct io_uring ring;
static int listen_fd, nbackends, next_backend;
static struct sockaddr_in *backends;
static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static struct io_uring_sqe *sqe_for(struct conn *c, enum op op) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    while (!s) {                                          /* the ring is full: hand it over */
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)c | (uint64_t)op);
    if (c) c->inflight++;
    return s;
}

static void q_recv(struct conn *c, int side, int poll_first) {
    struct dir *d = &c->d[side];
    struct io_uring_sqe *s = sqe_for(c, side ? OP_RECV1 : OP_RECV0);
    io_uring_prep_recv(s, c->fd[side], d->buf, BUF, 0);
    if (poll_first) s->ioprio |= IORING_RECVSEND_POLL_FIRST;
}

static void q_send(struct conn *c, int from) {
    struct dir *d = &c->d[from];
    struct io_uring_sqe *s = sqe_for(c, from ? OP_SEND1 : OP_SEND0);
    io_uring_prep_send(s, c->fd[!from], d->buf + d->start, d->end - d->start, MSG_NOSIGNAL);
}

static void q_close(int fd) {
    struct io_uring_sqe *s = sqe_for(NULL, OP_CONNECT);  /* no connection: a close */
    io_uring_prep_close(s, fd);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;                  /* nobody waits for it */
}

static void fail(struct conn *c) {
    if (!c->dead) {
        c->dead = 1;
        shutdown(c->fd[0], SHUT_RDWR);                   /* completes the recvs in flight */
        shutdown(c->fd[1], SHUT_RDWR);
    }
}

static void release_if_done(struct conn *c) {
    if (c->inflight) return;
    if (c->dead || (c->d[0].done && c->d[1].done)) {
        q_close(c->fd[0]);
        q_close(c->fd[1]);
        free(c);
    }
}

static void start(int fd) {
    int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct conn *c = aligned_alloc(8, sizeof(struct conn));
    if (up < 0 || !c) { close(fd); if (up >= 0) close(up); free(c); return; }
    memset(c, 0, sizeof *c);
    int one = 1;
    setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd[0] = fd;
    c->fd[1] = up;
    struct sockaddr_in *b = &backends[next_backend++ % nbackends];
    io_uring_prep_connect(sqe_for(c, OP_CONNECT), up, (struct sockaddr *)b, sizeof *b);
    q_recv(c, 0, 0);                                      /* the request may be there already */
}

static void complete(struct conn *c, enum op op, int res) {
    c->inflight--;
    if (c->dead) { release_if_done(c); return; }
    switch (op) {
    case OP_CONNECT:
        if (res < 0) { fail(c); break; }
        c->connected = 1;
        if (c->d[0].end > c->d[0].start) q_send(c, 0);   /* the client's bytes waited for us */
        else if (c->d[0].done) {                          /* the client already ended */
            io_uring_prep_shutdown(sqe_for(c, OP_SHUT0), c->fd[1], SHUT_WR);
        }
        q_recv(c, 1, 1);
        break;
    case OP_RECV0:
    case OP_RECV1: {
        int side = op == OP_RECV1;
        struct dir *d = &c->d[side];
        if (res < 0) { fail(c); break; }
        if (res == 0) {
            d->done = 1;                                 /* shutdown queued now or at connect */
            if (side == 1 || c->connected)
                io_uring_prep_shutdown(sqe_for(c, side ? OP_SHUT1 : OP_SHUT0), c->fd[!side], SHUT_WR);
            break;
        }
        d->start = 0;
        d->end = (size_t)res;
        if (side == 1 || c->connected) q_send(c, side);
        break;
    }
    case OP_SEND0:
    case OP_SEND1: {
        int from = op == OP_SEND1;
        struct dir *d = &c->d[from];
        if (res < 0) { fail(c); break; }
        d->start += (size_t)res;
        if (d->start < d->end) q_send(c, from);           /* short send: the rest */
        else q_recv(c, from, 1);
        break;
    }
    case OP_SHUT0:
    case OP_SHUT1:
        if (res < 0) fail(c);
        break;
    default:
        break;
    }
    release_if_done(c);
}

int main(int argc, char **argv) {
    nbackends = floor_setup(argc, argv, 0, &backends, &listen_fd);
    if (nbackends < 0) return 2;
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
                                .cq_entries = 65536};
    int e = io_uring_queue_init_params(4096, &ring, &p);
    if (e < 0) {
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-e));
        return 1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    io_uring_prep_multishot_accept(sqe_for(NULL, OP_ACCEPT), listen_fd, NULL, NULL, SOCK_NONBLOCK);
    while (!stop) {
        int r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) {
            fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-r));
            return 1;
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            struct conn *c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)7);
            enum op op = (enum op)(ud & 7);
            if (!c) {
                if (op == OP_ACCEPT && cqe->res >= 0) start(cqe->res);
                if (op == OP_ACCEPT && !(cqe->flags & IORING_CQE_F_MORE))   /* re-arm it */
                    io_uring_prep_multishot_accept(sqe_for(NULL, OP_ACCEPT), listen_fd, NULL, NULL,
                                                   SOCK_NONBLOCK);
                continue;                                 /* or a close that failed */
            }
            complete(c, op, cqe->res);
        }
        io_uring_cq_advance(&ring, seen);
    }
    return 0;
}

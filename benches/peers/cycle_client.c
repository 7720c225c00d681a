/* A closed-loop HTTP client that times the whole connection-per-request cycle.
 *
 *     cc -O2 -o cycle_client cycle_client.c && ./cycle_client PORT [CONNS] [SECONDS] [WARMUP]
 *
 * wrk times a request from its write to the response, so with a new connection per request
 * the connect (and the wrk event-loop passes around it) is outside its latency, and two
 * proxies with the same requests/s can show different latencies only because the closed loop
 * spends its time in different places. This client keeps CONNS (default 50) connections
 * going to 127.0.0.1:PORT, each: connect, send `GET / HTTP/1.1` with `Connection: close`, read
 * the response (headers and Content-Length body), close; and times each cycle from before
 * socket(2) to the last byte of the response. The first WARMUP seconds (default 1) are not
 * counted. Prints requests/s and the cycle's percentiles laid out as wrk does (run.py
 * `--client cycle` reads them). One thread, epoll; no dependencies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

struct slot {
    int fd;
    int sent;
    double start;
    size_t got;
    char buf[4096];
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static struct sockaddr_in target;
static int ep;

static void start(struct slot *s) {
    s->start = now_ms();
    s->sent = 0;
    s->got = 0;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s->fd < 0 || (connect(s->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS)) {
        perror("connect");
        exit(1);
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

/* The response is complete: headers, and Content-Length bytes after them. */
static int complete(struct slot *s) {
    s->buf[s->got < sizeof s->buf ? s->got : sizeof s->buf - 1] = 0;
    char *end = strstr(s->buf, "\r\n\r\n");
    if (!end) return 0;
    char *cl = strcasestr(s->buf, "\r\ncontent-length:");
    if (!cl || cl > end) return 1;
    size_t len = strtoul(cl + 17, NULL, 10);
    return s->got >= (size_t)(end + 4 - s->buf) + len;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [CONNS] [SECONDS] [WARMUP_SECONDS]\n", argv[0]);
        return 2;
    }
    int conns = argc > 2 ? atoi(argv[2]) : 50;
    double seconds = argc > 3 ? atof(argv[3]) : 5;
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[1]));
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(0);
    struct slot *slots = calloc((size_t)conns, sizeof *slots);
    size_t cap = 1 << 22, n = 0;
    double *cycles = malloc(cap * sizeof *cycles);
    long errors = 0;
    double warmup = argc > 4 ? atof(argv[4]) : 1;
    double t0 = now_ms(), measure_from = t0 + warmup * 1000, stop = measure_from + seconds * 1000;
    for (int i = 0; i < conns; i++) start(&slots[i]);
    struct epoll_event evs[256];
    for (double t = now_ms(); t < stop; t = now_ms()) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct slot *s = evs[i].data.ptr;
            if (!s->sent && (evs[i].events & EPOLLOUT)) {
                if (send(s->fd, REQUEST, sizeof REQUEST - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof REQUEST - 1)) {
                    errors++;
                    close(s->fd);
                    start(s);
                    continue;
                }
                s->sent = 1;
            }
            int done = 0, failed = 0;
            while (s->sent && !done) {
                ssize_t r = recv(s->fd, s->buf + s->got, sizeof s->buf - 1 - s->got, 0);
                if (r < 0) { failed = errno != EAGAIN; break; }
                if (r == 0) { done = 1; failed = !complete(s); break; }
                s->got += (size_t)r;
                done = complete(s);
            }
            if (!done && !failed) continue;
            double end = now_ms();
            if (failed) errors++;
            else if (s->start >= measure_from && n < cap) cycles[n++] = end - s->start;
            close(s->fd);
            start(s);
        }
    }
    qsort(cycles, n, sizeof *cycles, cmp);
    if (!n) { fprintf(stderr, "no complete cycle\n"); return 1; }
    /* wrk's layout, so that run.py reads both the same way */
    printf("  Latency Distribution (whole cycle: connect to response)\n");
    printf("     50%%   %.3fms\n     75%%   %.3fms\n     90%%   %.3fms\n     99%%   %.3fms\n",
           cycles[n / 2], cycles[n * 3 / 4], cycles[n * 9 / 10], cycles[n * 99 / 100]);
    printf("  %zu requests in %.2fs\n", n, seconds);
    if (errors) printf("  Socket errors: connect 0, read %ld, write 0, timeout 0\n", errors);
    printf("Requests/sec: %.2f\n", n / seconds);
    return 0;
}

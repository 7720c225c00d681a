// Loopback: sender -> [proxy copies A->B] -> receiver. Copy with read/write
// (16 KiB and 64 KiB buffers) or with splice(2) through a pipe.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

static const size_t TOTAL = 4UL << 30; // 4 GiB

static int listen_any(int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (void *)&a, sizeof a); listen(s, 4);
    socklen_t l = sizeof a; getsockname(s, (void *)&a, &l); *port = ntohs(a.sin_port);
    return s;
}
static int connect_to(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(s, (void *)&a, sizeof a); return s;
}
static void *sender(void *arg) {
    int fd = *(int *)arg; static char buf[1 << 16]; memset(buf, 7, sizeof buf);
    for (size_t sent = 0; sent < TOTAL;) { ssize_t n = write(fd, buf, sizeof buf); if (n <= 0) break; sent += n; }
    shutdown(fd, SHUT_WR); return NULL;
}
static void *receiver(void *arg) {
    int fd = *(int *)arg; static char buf[1 << 16]; size_t got = 0; ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) got += n;
    if (got != TOTAL) fprintf(stderr, "short: %zu\n", got); return NULL;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    const char *mode = argv[1]; size_t bufsize = argc > 2 ? atoi(argv[2]) : 16384;
    int pa, pb; int la = listen_any(&pa), lb = listen_any(&pb);
    int snd = connect_to(pa); int a = accept(la, NULL, NULL);
    int b = connect_to(pb); int rcv = accept(lb, NULL, NULL);
    pthread_t ts, tr; pthread_create(&ts, NULL, sender, &snd); pthread_create(&tr, NULL, receiver, &rcv);
    double t0 = now(); size_t moved = 0; struct rusage r0; getrusage(RUSAGE_THREAD, &r0);
    if (!strcmp(mode, "splice")) {
        int p[2]; pipe(p); fcntl(p[1], F_SETPIPE_SZ, (int)bufsize);
        for (;;) {
            ssize_t n = splice(a, NULL, p[1], NULL, bufsize, SPLICE_F_MOVE);
            if (n <= 0) break;
            while (n > 0) { ssize_t m = splice(p[0], NULL, b, NULL, n, SPLICE_F_MOVE); if (m <= 0) return 1; n -= m; moved += m; }
        }
    } else {
        char *buf = malloc(bufsize); ssize_t n;
        while ((n = read(a, buf, bufsize)) > 0) { for (ssize_t off = 0; off < n;) { ssize_t m = write(b, buf + off, n - off); if (m <= 0) return 1; off += m; } moved += n; }
    }
    struct rusage r1; getrusage(RUSAGE_THREAD, &r1);
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6
               + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    shutdown(b, SHUT_WR); pthread_join(ts, NULL); pthread_join(tr, NULL);
    double dt = now() - t0;
    printf("%-8s buf %7zu: %.2f GiB/s, proxy thread CPU %.2f s for 4 GiB (%.3f ms/MiB)\n", mode, bufsize, moved / dt / (1 << 30), cpu, cpu * 1000 / 4096);
    return 0;
}

/* What fwd_epoll.c and fwd_uring.c share: the command line and the listening socket. */
#ifndef FLOOR_COMMON_H
#define FLOOR_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* argv = LISTEN_PORT BACKEND_PORT...: the 127.0.0.1 backends into *backends (their count
 * returned) and a listening socket into *listen_fd, with TCP_NODELAY for the accepted sockets
 * to inherit. -1 after printing why. */
static int floor_setup(int argc, char **argv, int sock_flags, struct sockaddr_in **backends,
                       int *listen_fd) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s [-n] LISTEN_PORT BACKEND_PORT...\n", argv[0]);
        return -1;
    }
    int n = argc - 2;
    *backends = calloc((size_t)n, sizeof **backends);
    for (int i = 0; i < n; i++) {
        (*backends)[i].sin_family = AF_INET;
        (*backends)[i].sin_port = htons((uint16_t)atoi(argv[i + 2]));
        (*backends)[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | sock_flags, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("listen");
        return -1;
    }
    *listen_fd = fd;
    return n;
}

#endif

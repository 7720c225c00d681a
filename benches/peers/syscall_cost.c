/* The cost of entering and leaving the kernel on this machine: a tight loop of getppid(2),
 * the cheapest syscall. Bounds what batching syscalls (io_uring) could save per request.
 *   cc -O2 -o /tmp/syscall_cost benches/peers/syscall_cost.c && /tmp/syscall_cost */
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    const int n = 2000000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f ns per syscall\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}

/* The fake kubelet's stand-in for a pod's network namespace.
 *
 * Every pod of the fake cluster runs as local processes with its own loopback address
 * (its pod IP, in $FAKE_POD_IP). A container binding "all addresses" (0.0.0.0 or ::) is
 * bound to that address instead, exactly what it would reach in its own network
 * namespace, so two pods can both listen on port 8080 or 8888. Loaded with LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind) real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    const char *ip = getenv("FAKE_POD_IP");
    if (ip && addr) {
        if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
            struct sockaddr_in a;
            memcpy(&a, addr, sizeof a);
            if (a.sin_addr.s_addr == htonl(INADDR_ANY) && inet_pton(AF_INET, ip, &a.sin_addr) == 1)
                return real_bind(fd, (struct sockaddr *)&a, sizeof a);
        } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 a;
            char mapped[64];
            memcpy(&a, addr, sizeof a);
            snprintf(mapped, sizeof mapped, "::ffff:%s", ip);
            if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr) && inet_pton(AF_INET6, mapped, &a.sin6_addr) == 1)
                return real_bind(fd, (struct sockaddr *)&a, sizeof a);
        }
    }
    return real_bind(fd, addr, len);
}

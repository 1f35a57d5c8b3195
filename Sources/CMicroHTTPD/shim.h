// GNU libmicrohttpd, as the HTTPServer module sees it. Swift cannot call C
// variadic functions, so the few that take options are wrapped here with
// fixed parameters; nothing else is added.
#ifndef ASTH_MICROHTTPD_SHIM_H
#define ASTH_MICROHTTPD_SHIM_H

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#ifndef POLLRDHUP
#define POLLRDHUP 0x2000 /* Linux: the peer shut its writing half */
#endif

/// Starts a daemon on `address` with an internal polling thread and one
/// thread per connection; NULL when the address cannot be bound.
static inline struct MHD_Daemon *asth_mhd_start(
    unsigned int flags, const struct sockaddr *address,
    MHD_AccessHandlerCallback handler, void *handler_cls,
    MHD_RequestCompletedCallback completed, void *completed_cls,
    MHD_LogCallback logger, void *logger_cls,
    unsigned int connection_limit, size_t memory_limit_bytes,
    unsigned int timeout_seconds)
{
    return MHD_start_daemon(
        flags, 0, NULL, NULL, handler, handler_cls,
        MHD_OPTION_EXTERNAL_LOGGER, logger, logger_cls, /* first, to catch all */
        MHD_OPTION_SOCK_ADDR, address,
        MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit_bytes,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        MHD_OPTION_END);
}

/// The port the daemon listens on (the one the kernel picked for port 0);
/// 0 when unknown.
static inline uint16_t asth_mhd_bound_port(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/// The connection's socket; -1 when unknown.
static inline int asth_mhd_connection_fd(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

/// 1 when the peer of a connected socket has closed it or reset it, 0 while
/// it is open. Never blocks and never consumes bytes: a request the client
/// pipelines meanwhile stays unread.
static inline int asth_socket_peer_closed(int fd)
{
    struct pollfd probe = {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
    int ready;
    do {
        ready = poll(&probe, 1, 0);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) {
        return 0;
    }
    if (probe.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP)) {
        return 1;
    }
    char byte;
    ssize_t peeked = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked == 0 ? 1 : 0;
}

#endif

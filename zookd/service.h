/* What every server process shares at start-up: limits from the
 * environment, "<prog> <zook.conf> <section>", the listening socket, and
 * detached threads. */
#ifndef ZOOK_SERVICE_H
#define ZOOK_SERVICE_H

#include <stdint.h>

struct conf;
struct conf_section;

/* Timeouts and limits, from the environment (see docs/zookd.md). */
struct limits {
    int head_timeout_ms;    /* ZOOK_HEAD_TIMEOUT_MS: whole request head */
    int idle_timeout_ms;    /* ZOOK_IDLE_TIMEOUT_MS: between keep-alive requests */
    int io_timeout_ms;      /* ZOOK_IO_TIMEOUT_MS: any single read/write of a body */
    int body_timeout_ms;    /* ZOOK_BODY_TIMEOUT_MS: a whole request body, plus... */
    int body_min_rate;      /* ZOOK_BODY_MIN_RATE: ...its length at this many bytes/s */
    int backend_timeout_ms; /* ZOOK_BACKEND_TIMEOUT_MS: backend answer / CGI run */
    int connect_timeout_ms; /* ZOOK_CONNECT_TIMEOUT_MS */
    int linger_ms;          /* ZOOK_LINGER_MS: reading on after an error answer */
    uint64_t max_body;      /* ZOOK_MAX_BODY: request body bytes */
    int max_conns;          /* ZOOK_MAX_CONNS: open client connections */
    int max_conns_per_client; /* zook.conf max_conns_per_client (zookd2); 0: no limit */
};
void limits_from_env(struct limits *l);
/* When a request body of `length` bytes whose reading starts now must have
 * arrived (ms on the monotonic clock). */
int64_t body_deadline(const struct limits *l, uint64_t length);

/* The start every server shares: check "<prog> <zook.conf> <section>",
 * ignore SIGPIPE, read limits and the conf (exit 2 on any problem), and
 * return the section. */
const struct conf_section *service_start(int argc, char **argv, struct conf *conf,
                                         struct limits *l);
/* Listen on the section's host (all addresses if none) and port, or exit 1. */
int service_listen(const struct conf *conf, const struct conf_section *sec, const char *what);
/* Start a detached thread with a modest stack; 0 or -1. */
int spawn_detached(void *(*fn)(void *), void *arg);

#endif

/* Process start-up: see service.h. */
#define _GNU_SOURCE
#include "service.h"

#include "conf.h"
#include "http.h"
#include "sock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < min || x > max) {
        fprintf(stderr, "ignoring %s=%s (want %ld..%ld)\n", name, v, min, max);
        return def;
    }
    return x;
}

void limits_from_env(struct limits *l)
{
    l->head_timeout_ms = (int)env_long("ZOOK_HEAD_TIMEOUT_MS", 10000, 10, 3600000);
    l->idle_timeout_ms = (int)env_long("ZOOK_IDLE_TIMEOUT_MS", 30000, 10, 3600000);
    l->io_timeout_ms = (int)env_long("ZOOK_IO_TIMEOUT_MS", 30000, 10, 3600000);
    l->backend_timeout_ms = (int)env_long("ZOOK_BACKEND_TIMEOUT_MS", 30000, 10, 3600000);
    l->connect_timeout_ms = (int)env_long("ZOOK_CONNECT_TIMEOUT_MS", 5000, 10, 3600000);
    l->max_body = (uint64_t)env_long("ZOOK_MAX_BODY", HTTP_DEFAULT_MAX_BODY, 0,
                                     (long)1 << 40);
    l->max_conns = (int)env_long("ZOOK_MAX_CONNS", 1024, 1, 1000000);
    l->body_timeout_ms = (int)env_long("ZOOK_BODY_TIMEOUT_MS", 10000, 10, 3600000);
    l->body_min_rate = (int)env_long("ZOOK_BODY_MIN_RATE", 32768, 1, 1 << 30);
    l->linger_ms = (int)env_long("ZOOK_LINGER_MS", 2000, 0, 60000);
    l->max_conns_per_client = 0;
}

int64_t body_deadline(const struct limits *l, uint64_t length)
{
    return now_ms() + l->body_timeout_ms + (int64_t)(length * 1000 / (uint64_t)l->body_min_rate);
}

int spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int rc = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

const struct conf_section *service_start(int argc, char **argv, struct conf *conf,
                                         struct limits *l)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <zook.conf> <section>\n", argv[0]);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    /* two descriptors per client (client and service) and a few per CGI
     * run: take the hard limit, not the 1024 of a login shell */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    limits_from_env(l);
    conf_load(argv[1], conf);
    return conf_need_section(conf, argv[2]);
}

int service_listen(const struct conf *conf, const struct conf_section *sec, const char *what)
{
    int port = conf_port(conf, conf_need(conf, sec, "port"));
    const struct conf_entry *host = conf_get(sec, "host");
    char err[256];
    int lfd = net_listen(host ? host->value : NULL, port, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "%s: %s\n", what, err);
        exit(1);
    }
    fprintf(stderr, "%s: [%s] listening on %s:%d\n", what, sec->name,
            host ? host->value : "*", port);
    return lfd;
}

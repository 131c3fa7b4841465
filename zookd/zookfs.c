/* zookfs <zook.conf> <section>: files or CGI under the section's dir.
 *
 * Without `exec` keys: serves regular files under dir (GET and HEAD), opened
 * with openat2(RESOLVE_BENEATH) so that no path or symlink leads outside;
 * directories and special files are 403; nothing is executed.
 * With `exec` keys: the URL paths listed (and PATH_INFO below them) run as
 * CGI/1.1 scripts at dir + path; nothing else is served.
 *
 * Keep-alive; the event loop (evloop.c) answers GETs of cached small files
 * itself, a thread per request does the rest. CGI output is collected whole
 * (bounded to 16 MiB) and sent with a Content-Length, so keep-alive stays
 * framed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "evloop.h"
#include "http.h"
#include "net.h"

#define SMALL_FILE (64 * 1024)
#define CGI_MAX_OUTPUT (16 * 1024 * 1024)

static struct limits limits;
static int rootfd = -1;
static char rootdir[4096];
static const char *server_host = "";
static int server_port;
static const char **exec_paths;
static size_t nexec;

extern char **environ;

/* ---- static files ---- */

static const char *mime_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"png", "image/png"},                 {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
        {"svg", "image/svg+xml"},             {"ico", "image/x-icon"},
        {"txt", "text/plain; charset=utf-8"}, {"json", "application/json"},
        {"woff2", "font/woff2"},              {"woff", "font/woff"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static int open_beneath(const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

/* Read and drop a request body (static mode has no use for one). */
static enum http_err discard_body(struct conn *c, const struct http_head *h, int *keep)
{
    struct http_body b;
    enum http_err e = http_request_body(h, limits.max_body, &b);
    if (e != HTTP_OK)
        return e;
    size_t head = h->len;
    uint64_t left = b.length;
    size_t have = c->len - head;
    size_t first = have < left ? have : (size_t)left;
    conn_consume(c, head + first);
    left -= first;
    char tmp[16384];
    while (left > 0) {
        ssize_t r = net_read(c->fd, tmp, left < sizeof tmp ? (size_t)left : sizeof tmp,
                             now_ms() + limits.io_timeout_ms, &c->timeo_ms);
        if (r <= 0) {
            *keep = 0;
            return HTTP_CLOSED;
        }
        left -= (uint64_t)r;
    }
    return HTTP_OK;
}

/* Small files are kept in memory, keyed by URL path, and served from
 * there while a stat() of the same path still shows the same file (device,
 * inode, size, mtime, ctime). Entries are only made from files opened with
 * RESOLVE_BENEATH; a hit proves the path still names that very file, so a
 * later symlink swap cannot lead a hit outside the root. */
#define CACHE_BUCKETS 1024
#define CACHE_MAX_BYTES (32 * 1024 * 1024)

struct cached {
    struct cached *next;
    char *path;
    char *data;
    size_t len;
    dev_t dev;
    ino_t ino;
    struct timespec mtime, ctime;
};

static struct cached *cache[CACHE_BUCKETS];
static size_t cache_bytes;
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;

static unsigned cache_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % CACHE_BUCKETS;
}

static int same_file(const struct cached *c, const struct stat *st)
{
    return c->dev == st->st_dev && c->ino == st->st_ino && (off_t)c->len == st->st_size &&
           c->mtime.tv_sec == st->st_mtim.tv_sec && c->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           c->ctime.tv_sec == st->st_ctim.tv_sec && c->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Copy a still-valid cached file into out (SMALL_FILE bytes); its length or -1. */
static long cache_get(const char *path, const char *rel, char *out)
{
    struct stat st;
    if (fstatat(rootfd, rel, &st, 0) < 0 || !S_ISREG(st.st_mode))
        return -1;
    long len = -1;
    pthread_rwlock_rdlock(&cache_lock);
    for (struct cached *c = cache[cache_hash(path)]; c; c = c->next) {
        if (strcmp(c->path, path) == 0) {
            if (same_file(c, &st)) {
                memcpy(out, c->data, c->len);
                len = (long)c->len;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&cache_lock);
    return len;
}

static void cache_put(const char *path, const struct stat *st, const char *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, data, len);
    pthread_rwlock_wrlock(&cache_lock);
    struct cached **slot = &cache[cache_hash(path)], *c = *slot;
    while (c && strcmp(c->path, path) != 0)
        c = c->next;
    if (!c && cache_bytes + len <= CACHE_MAX_BYTES && (c = calloc(1, sizeof *c))) {
        c->path = strdup(path);
        if (!c->path) {
            free(c);
            c = NULL;
        } else {
            c->next = *slot;
            *slot = c;
        }
    }
    if (c) {
        cache_bytes = cache_bytes - c->len + len;
        free(c->data);
        c->data = copy;
        copy = NULL;
        c->len = len;
        c->dev = st->st_dev;
        c->ino = st->st_ino;
        c->mtime = st->st_mtim;
        c->ctime = st->st_ctim;
    }
    pthread_rwlock_unlock(&cache_lock);
    free(copy);
}

static enum http_err open_error(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
        return HTTP_E_NOT_FOUND;
    case ENAMETOOLONG:
        return HTTP_E_URI_TOO_LONG;
    case EXDEV: /* would leave the root */
    case ELOOP:
    case EACCES:
    case EPERM:
    case ENXIO: /* sockets */
        return HTTP_E_FORBIDDEN;
    default:
        return HTTP_E_INTERNAL;
    }
}

static size_t file_head(char *out, const char *path, long long size, int keep)
{
    int n = snprintf(out, 512,
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %lld\r\n%s\r\n",
                     mime_type(path), size, keep ? "" : "Connection: close\r\n");
    return n < 0 ? 0 : (size_t)n;
}

static enum http_err serve_file(int fd, const char *path, int is_head, int keep)
{
    const char *rel = path[1] ? path + 1 : ".";
    char head[512];
    char body[SMALL_FILE];
    long cached = is_head ? -1 : cache_get(path, rel, body);
    if (cached >= 0) {
        size_t hn = file_head(head, path, cached, keep);
        return net_write2(fd, head, hn, body, (size_t)cached) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    int f = open_beneath(rel);
    if (f < 0)
        return open_error(errno);
    struct stat st;
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f);
        return HTTP_E_FORBIDDEN; /* no directory listings, no devices or fifos */
    }
    size_t hn = file_head(head, path, (long long)st.st_size, keep);
    if (is_head || st.st_size == 0) {
        close(f);
        return net_write_all(fd, head, hn, 0) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    if (st.st_size <= SMALL_FILE) {
        size_t want = (size_t)st.st_size, got = 0;
        while (got < want) {
            ssize_t r = pread(f, body + got, want - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(f);
        if (got != want)
            return HTTP_CLOSED; /* file changed under us: the head is not sent yet */
        cache_put(path, &st, body, want);
        return net_write2(fd, head, hn, body, want) < 0 ? HTTP_CLOSED : HTTP_OK;
    }
    if (net_write_all(fd, head, hn, MSG_MORE) < 0) {
        close(f);
        return HTTP_CLOSED;
    }
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t r = sendfile(fd, f, &off, (size_t)(st.st_size - off));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(f);
            return HTTP_CLOSED; /* peer gone or file shrank: framing is lost */
        }
    }
    close(f);
    return HTTP_OK;
}

/* ---- CGI ---- */

struct strvec {
    char **v;
    size_t n, cap;
};

static int sv_add(struct strvec *s, char *str)
{
    if (!str)
        return -1;
    if (s->n + 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        char **nv = realloc(s->v, ncap * sizeof *nv);
        if (!nv) {
            free(str);
            return -1;
        }
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
    return 0;
}

static int sv_addf(struct strvec *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sv_addf(struct strvec *s, const char *fmt, ...)
{
    va_list ap;
    char *str = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&str, fmt, ap);
    va_end(ap);
    return sv_add(s, r < 0 ? NULL : str);
}

static void sv_free(struct strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static int passthrough_env(const char *kv)
{
    static const char *exact[] = {"PATH", "HOME", "LANG", "TZ", "PYTHONPATH",
                                  "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"};
    static const char *prefix[] = {"LC_", "ZOOK_", "ZOOBAR_", "ZOOLAB_"};
    const char *eq = strchr(kv, '=');
    if (!eq)
        return 0;
    size_t n = (size_t)(eq - kv);
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strlen(exact[i]) == n && memcmp(kv, exact[i], n) == 0)
            return 1;
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
        if (strncmp(kv, prefix[i], strlen(prefix[i])) == 0)
            return 1;
    return 0;
}

/* HTTP_* name for a header, or 0 if it is not passed (odd names, Proxy). */
static int cgi_header_name(struct http_span name, char *out, size_t cap)
{
    if (name.n + 6 > cap || http_name_is(name, "proxy") ||
        http_name_is(name, "content-type") || http_name_is(name, "content-length"))
        return 0;
    memcpy(out, "HTTP_", 5);
    for (size_t i = 0; i < name.n; i++) {
        char ch = name.p[i];
        if (ch == '-')
            ch = '_';
        else if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            return 0; /* '_' and friends would alias other names */
        out[5 + i] = ch;
    }
    out[5 + name.n] = '\0';
    return 1;
}

static void remote_addr(const struct http_head *h, const char *peer, char *out, size_t cap)
{
    snprintf(out, cap, "%s", peer);
    const struct http_header *x = http_find(h, "x-forwarded-for");
    if (!x)
        return;
    const char *p = x->value.p, *e = p + x->value.n;
    const char *comma = memrchr(p, ',', x->value.n);
    if (comma)
        p = comma + 1;
    while (p < e && *p == ' ')
        p++;
    char ip[64];
    size_t n = (size_t)(e - p);
    if (n == 0 || n >= sizeof ip)
        return;
    memcpy(ip, p, n);
    ip[n] = '\0';
    unsigned char tmp[16];
    if (inet_pton(AF_INET, ip, tmp) == 1 || inet_pton(AF_INET6, ip, tmp) == 1)
        snprintf(out, cap, "%s", ip);
}

/* SERVER_NAME and SERVER_PORT from Host, else the section's. */
static int server_env(struct strvec *env, const struct http_head *h)
{
    const struct http_header *hh = http_find(h, "host");
    if (hh && hh->value.n > 0 && hh->value.n < 256) {
        const char *p = hh->value.p;
        size_t n = hh->value.n, hn = n;
        const char *port = NULL;
        size_t pn = 0;
        const char *colon = memrchr(p, ':', n);
        const char *bracket = memrchr(p, ']', n);
        if (colon && (!bracket || colon > bracket)) {
            hn = (size_t)(colon - p);
            port = colon + 1;
            pn = n - hn - 1;
        }
        int ok = hn > 0 && (!port || (pn > 0 && http_parse_uint(port, pn) > 0 &&
                                      http_parse_uint(port, pn) < 65536));
        for (size_t i = 0; ok && i < hn; i++)
            ok = p[i] > 0x20 && p[i] < 0x7f && p[i] != '/' && p[i] != '\\';
        if (ok) {
            if (sv_addf(env, "SERVER_NAME=%.*s", (int)hn, p) < 0)
                return -1;
            if (port)
                return sv_addf(env, "SERVER_PORT=%.*s", (int)pn, port);
            return sv_addf(env, "SERVER_PORT=%d", 80);
        }
    }
    if (sv_addf(env, "SERVER_NAME=%s", server_host) < 0)
        return -1;
    return sv_addf(env, "SERVER_PORT=%d", server_port);
}

static int build_cgi_env(struct strvec *env, const struct http_head *h, const char *script,
                         const char *path_info, const char *peer, uint64_t body_len)
{
    for (char **e = environ; *e; e++)
        if (passthrough_env(*e) && sv_add(env, strdup(*e)) < 0)
            return -1;
    struct http_span q = http_query(h->target);
    char ra[64];
    remote_addr(h, peer, ra, sizeof ra);
    if (sv_addf(env, "GATEWAY_INTERFACE=CGI/1.1") || sv_addf(env, "SERVER_SOFTWARE=zookfs") ||
        sv_addf(env, "SERVER_PROTOCOL=HTTP/1.%d", h->minor) ||
        sv_addf(env, "REQUEST_METHOD=%.*s", (int)h->method.n, h->method.p) ||
        sv_addf(env, "REQUEST_URI=%.*s", (int)h->target.n, h->target.p) ||
        sv_addf(env, "SCRIPT_NAME=%s", script) || sv_addf(env, "PATH_INFO=%s", path_info) ||
        sv_addf(env, "SCRIPT_FILENAME=%s%s", rootdir, script) ||
        sv_addf(env, "QUERY_STRING=%.*s", (int)q.n, q.p) ||
        sv_addf(env, "REMOTE_ADDR=%s", ra) || server_env(env, h))
        return -1;
    const struct http_header *ct = http_find(h, "content-type");
    if (ct && sv_addf(env, "CONTENT_TYPE=%.*s", (int)ct->value.n, ct->value.p))
        return -1;
    if (body_len && sv_addf(env, "CONTENT_LENGTH=%llu", (unsigned long long)body_len))
        return -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        char name[HTTP_MAX_REQUEST_LINE];
        const struct http_header *hd = &h->headers[i];
        if (!cgi_header_name(hd->name, name, sizeof name))
            continue;
        size_t nl = strlen(name);
        char **dup = NULL;
        for (size_t j = 0; j < env->n; j++)
            if (strncmp(env->v[j], name, nl) == 0 && env->v[j][nl] == '=')
                dup = &env->v[j];
        if (dup) { /* repeated header: one variable, values joined */
            const char *sep = strcmp(name, "HTTP_COOKIE") == 0 ? "; " : ", ";
            char *joined = NULL;
            if (asprintf(&joined, "%s%s%.*s", *dup, sep, (int)hd->value.n, hd->value.p) < 0)
                return -1;
            free(*dup);
            *dup = joined;
        } else if (sv_addf(env, "%s=%.*s", name, (int)hd->value.n, hd->value.p)) {
            return -1;
        }
    }
    return 0;
}

struct outbuf {
    char *p;
    size_t n, cap;
};

/* Run the script with body on stdin, collecting stdout into out.
 * HTTP_OK, HTTP_E_GATEWAY_TIMEOUT (killed) or HTTP_E_INTERNAL. */
static enum http_err run_cgi(const char *file, char **envp, const char *body, size_t blen,
                             struct outbuf *out)
{
    int in[2], outp[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return HTTP_E_INTERNAL;
    if (pipe2(outp, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return HTTP_E_INTERNAL;
    }
    char dir[sizeof rootdir + HTTP_MAX_REQUEST_LINE];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    char *argv[] = {(char *)file, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        /* child: only async-signal-safe calls until exec */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        setpgid(0, 0);
        if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0)
            _exit(126);
        if (dir[0] && chdir(dir) < 0)
            _exit(126);
        execve(file, argv, envp);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (pid < 0) {
        close(in[1]);
        close(outp[0]);
        return HTTP_E_INTERNAL;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    int64_t deadline = now_ms() + limits.backend_timeout_ms;
    size_t sent = 0;
    int infd = in[1];
    if (blen == 0) {
        close(infd);
        infd = -1;
    }
    enum http_err result = HTTP_OK;
    int outfd = outp[0];
    while (outfd >= 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            result = HTTP_E_GATEWAY_TIMEOUT;
            break;
        }
        struct pollfd p[2] = {{outfd, POLLIN, 0}, {infd, POLLOUT, 0}};
        int r = poll(p, infd >= 0 ? 2 : 1, (int)left);
        if (r < 0 && errno != EINTR) {
            result = HTTP_E_INTERNAL;
            break;
        }
        if (r <= 0)
            continue;
        if (infd >= 0 && p[1].revents) {
            ssize_t w = write(infd, body + sent, blen - sent);
            if (w > 0)
                sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == blen) {
                close(infd); /* the script may ignore its input: fine */
                infd = -1;
            }
        }
        if (p[0].revents) {
            if (out->cap - out->n < 65536) {
                size_t ncap = out->cap ? out->cap * 2 : 65536;
                char *np = ncap <= CGI_MAX_OUTPUT + 65536 ? realloc(out->p, ncap) : NULL;
                if (!np) {
                    result = HTTP_E_INTERNAL;
                    break;
                }
                out->p = np;
                out->cap = ncap;
            }
            ssize_t rd = read(outfd, out->p + out->n, out->cap - out->n);
            if (rd == 0) {
                close(outfd);
                outfd = -1;
            } else if (rd > 0) {
                out->n += (size_t)rd;
            } else if (errno != EAGAIN && errno != EINTR) {
                result = HTTP_E_INTERNAL;
                break;
            }
        }
    }
    if (infd >= 0)
        close(infd);
    if (outfd >= 0)
        close(outfd);
    /* Let it exit until the deadline; then kill its whole process group
     * (the leader is not reaped yet, so the group id is still ours). */
    int status = 0;
    for (;;) {
        pid_t w = result == HTTP_OK ? waitpid(pid, &status, WNOHANG) : 0;
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (result != HTTP_OK || now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            if (result == HTTP_OK)
                result = HTTP_E_GATEWAY_TIMEOUT;
            break;
        }
        usleep(1000);
    }
    if (result == HTTP_E_GATEWAY_TIMEOUT)
        fprintf(stderr, "zookfs: %s killed after %d ms\n", file, limits.backend_timeout_ms);
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fprintf(stderr, "zookfs: %s exited with status %d\n", file, WEXITSTATUS(status));
    return result;
}

/* Turn the script's output into an HTTP response and send it. */
static enum http_err send_cgi_response(int fd, const char *o, size_t n, int is_head, int keep)
{
    static __thread struct http_cgi cgi;
    if (http_parse_cgi(o, n, &cgi) != HTTP_OK) {
        fprintf(stderr, "zookfs: the script's output is not a CGI response\n");
        return HTTP_E_INTERNAL;
    }
    char *head = malloc(HTTP_MAX_HEADER_BYTES + 512);
    if (!head)
        return HTTP_E_INTERNAL;
    int hl = snprintf(head, 256, "HTTP/1.1 %d %.*s\r\n", cgi.status,
                      cgi.reason.n && cgi.reason.n < 200 ? (int)cgi.reason.n : -1,
                      cgi.reason.n && cgi.reason.n < 200 ? cgi.reason.p : http_reason(cgi.status));
    size_t len = hl > 0 ? (size_t)hl : 0;
    for (size_t i = 0; i < cgi.nheaders; i++) { /* they fit: the header limit bounds them */
        memcpy(head + len, cgi.headers[i].line.p, cgi.headers[i].line.n);
        memcpy(head + len + cgi.headers[i].line.n, "\r\n", 2);
        len += cgi.headers[i].line.n + 2;
    }
    size_t blen = n - cgi.body;
    len += (size_t)snprintf(head + len, 128, "Content-Length: %zu\r\n%s\r\n", blen,
                            keep ? "" : "Connection: close\r\n");
    int r = net_write2(fd, head, len, o + cgi.body, is_head ? 0 : blen);
    free(head);
    return r < 0 ? HTTP_CLOSED : HTTP_OK;
}

/* The exec path this URL path runs, with PATH_INFO; NULL if none. */
static const char *match_exec(const char *path, const char **path_info)
{
    for (size_t i = 0; i < nexec; i++) {
        size_t n = strlen(exec_paths[i]);
        if (strncmp(path, exec_paths[i], n) == 0 && (path[n] == '\0' || path[n] == '/')) {
            *path_info = path + n;
            return exec_paths[i];
        }
    }
    return NULL;
}

static enum http_err serve_cgi(struct conn *c, const struct http_head *h, const char *path,
                               const char *peer, int keep)
{
    const char *path_info;
    const char *script = match_exec(path, &path_info);
    if (!script)
        return HTTP_E_NOT_FOUND;
    struct http_body b;
    enum http_err e = http_request_body(h, limits.max_body, &b);
    if (e != HTTP_OK)
        return e;
    char *body = NULL;
    if (b.length) {
        body = malloc((size_t)b.length);
        if (!body)
            return HTTP_E_INTERNAL;
        size_t have = c->len - h->len;
        size_t first = have < b.length ? have : (size_t)b.length;
        memcpy(body, c->buf + h->len, first);
        size_t got = first;
        while (got < b.length) {
            ssize_t r = net_read(c->fd, body + got, (size_t)b.length - got,
                                 now_ms() + limits.io_timeout_ms, &c->timeo_ms);
            if (r <= 0) {
                free(body);
                return HTTP_CLOSED;
            }
            got += (size_t)r;
        }
    }
    struct strvec env = {0};
    char file[sizeof rootdir + HTTP_MAX_REQUEST_LINE];
    snprintf(file, sizeof file, "%s%s", rootdir, script);
    struct outbuf out = {0};
    if (build_cgi_env(&env, h, script, path_info, peer, b.length) < 0)
        e = HTTP_E_INTERNAL;
    else
        e = run_cgi(file, env.v, body, (size_t)b.length, &out);
    sv_free(&env);
    free(body);
    int is_head = h->method.n == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
    if (e == HTTP_OK)
        e = send_cgi_response(c->fd, out.p ? out.p : "", out.n, is_head, keep);
    free(out.p);
    return e;
}

/* One request whose head is in h: answer it, blocking. 1 keeps the connection. */
static int handle_one(struct conn *c, struct http_head *h, const char *peer)
{
    char path[HTTP_MAX_REQUEST_LINE + 1];
    int keep = http_keep_alive(h);
    size_t plen;
    enum http_err e = http_decode_path(h->target.p, h->target.n, path, sizeof path, &plen);
    if (e == HTTP_OK && nexec) {
        e = serve_cgi(c, h, path, peer, keep);
        /* the body (if any) followed the head in the buffer or was read */
        struct http_body b;
        if (e == HTTP_OK && http_request_body(h, limits.max_body, &b) == HTTP_OK) {
            size_t body_end = h->len + (size_t)b.length;
            conn_consume(c, body_end <= c->len ? body_end : c->len);
        }
    } else if (e == HTTP_OK) {
        int is_head = h->method.n == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
        int is_get = h->method.n == 3 && memcmp(h->method.p, "GET", 3) == 0;
        if (!is_get && !is_head) {
            e = HTTP_E_METHOD;
        } else {
            e = discard_body(c, h, &keep);
            /* h's spans point into c->buf, which discard_body shifted;
             * path and is_head were taken before. */
            if (e == HTTP_OK)
                e = serve_file(c->fd, path, is_head, keep);
        }
    }
    if (e != HTTP_OK) {
        if (e != HTTP_CLOSED)
            conn_send_error(c->fd, e);
        return 0;
    }
    return keep;
}

/* ---- on the event loop (evloop.h): cached small files are answered by
 * the loop, everything else (CGI, misses, bodies) in a thread ---- */

struct fsconn {
    struct ev_conn ev;
    char head[512];
    char body[SMALL_FILE];
};

static void fs_request(struct ev_conn *cl)
{
    struct fsconn *f = (struct fsconn *)cl;
    struct http_head *h = cl->h;
    int is_get = h->method.n == 3 && memcmp(h->method.p, "GET", 3) == 0;
    char path[HTTP_MAX_REQUEST_LINE + 1];
    size_t plen;
    if (nexec || !is_get || http_find(h, "content-length") || http_find(h, "transfer-encoding") ||
        http_decode_path(h->target.p, h->target.n, path, sizeof path, &plen) != HTTP_OK) {
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    long len = cache_get(path, path[1] ? path + 1 : ".", f->body);
    if (len < 0) {
        ev_handoff(cl, EV_RESUME_REQUEST);
        return;
    }
    int keep = http_keep_alive(h);
    size_t hn = file_head(f->head, path, len, keep);
    conn_consume(&cl->c, h->len);
    ev_reply(cl, f->head, hn, f->body, (size_t)len, keep);
}

static int fs_blocking(struct ev_conn *cl)
{
    return handle_one(&cl->c, cl->h, cl->ip);
}

static const struct ev_ops fs_ops = {
    .size = sizeof(struct fsconn),
    .request = fs_request,
    .blocking = fs_blocking,
};

static void load_exec(const struct conf *conf, const struct conf_section *sec)
{
    size_t cap = 0;
    for (const struct conf_entry *e = conf_get(sec, "exec"); e; e = conf_next(sec, "exec", e))
        cap++;
    if (!cap)
        return;
    exec_paths = calloc(cap, sizeof *exec_paths);
    if (!exec_paths)
        conf_die(conf, sec->line, "out of memory");
    for (const struct conf_entry *e = conf_get(sec, "exec"); e; e = conf_next(sec, "exec", e)) {
        char norm[HTTP_MAX_REQUEST_LINE + 1];
        size_t n;
        size_t vn = strlen(e->value);
        if (http_decode_path(e->value, vn, norm, sizeof norm, &n) != HTTP_OK ||
            n != vn || strcmp(norm, e->value) != 0 || strchr(e->value, '%') ||
            strchr(e->value, '?') || norm[n - 1] == '/')
            conf_die(conf, e->line, "exec = %s: want a normalised URL path like /a/b.cgi",
                     e->value);
        exec_paths[nexec++] = e->value;
    }
}

int main(int argc, char **argv)
{
    static struct conf conf;
    const struct conf_section *sec = service_start(argc, argv, &conf, &limits);
    server_port = conf_port(&conf, conf_need(&conf, sec, "port"));
    const struct conf_entry *host = conf_get(sec, "host");
    server_host = host ? host->value : "localhost";
    const struct conf_entry *dir = conf_need(&conf, sec, "dir");
    if (!realpath(dir->value, rootdir))
        conf_die(&conf, dir->line, "dir = %s: %s", dir->value, strerror(errno));
    if (strcmp(rootdir, "/") == 0)
        rootdir[0] = '\0'; /* so that rootdir + "/x" is "/x" */
    rootfd = open(dir->value, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        conf_die(&conf, dir->line, "dir = %s: %s", dir->value, strerror(errno));
    load_exec(&conf, sec);
    int lfd = service_listen(&conf, sec, "zookfs");
    fprintf(stderr, "zookfs: %s %s\n", nexec ? "CGI under" : "files under", rootdir);
    ev_run(lfd, &fs_ops, &limits);
}

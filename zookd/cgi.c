/* zookfs's CGI/1.1 side: see cgi.h. */
#define _GNU_SOURCE
#include "cgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "service.h"
#include "sock.h"

#define CGI_MAX_OUTPUT (16 * 1024 * 1024)

static const struct limits *limits;
static char rootdir[4096];
static const char *server_host = "";
static int server_port;
static const char **exec_paths;
static size_t nexec;

extern char **environ;

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
    int64_t deadline = now_ms() + limits->backend_timeout_ms;
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
        fprintf(stderr, "zookfs: %s killed after %d ms\n", file, limits->backend_timeout_ms);
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

enum http_err cgi_serve(struct conn *c, const struct http_head *h, const char *path,
                        const char *peer, int keep)
{
    const char *path_info;
    const char *script = match_exec(path, &path_info);
    if (!script)
        return HTTP_E_NOT_FOUND;
    struct http_body b;
    enum http_err e = http_request_body(h, limits->max_body, &b);
    if (e != HTTP_OK)
        return e;
    int is_head = h->method.n == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
    /* everything from the head first: reading the body consumes it */
    struct strvec env = {0};
    if (build_cgi_env(&env, h, script, path_info, peer, b.length) < 0) {
        sv_free(&env);
        return HTTP_E_INTERNAL;
    }
    struct body_buf body = {malloc(b.length ? (size_t)b.length : 1), 0};
    if (!body.p)
        e = HTTP_E_INTERNAL;
    else
        e = conn_read_body(c, h->len, b.length, limits, body_to_memory, &body);
    struct outbuf out = {0};
    if (e == HTTP_OK) {
        char file[sizeof rootdir + HTTP_MAX_REQUEST_LINE];
        snprintf(file, sizeof file, "%s%s", rootdir, script);
        e = run_cgi(file, env.v, body.p, body.n, &out);
    }
    sv_free(&env);
    free(body.p);
    if (e == HTTP_OK)
        e = send_cgi_response(c->fd, out.p ? out.p : "", out.n, is_head, keep);
    free(out.p);
    return e;
}

int cgi_load(const struct conf *conf, const struct conf_section *sec, const char *root,
             const char *host, int port, const struct limits *l)
{
    limits = l;
    snprintf(rootdir, sizeof rootdir, "%s", root);
    server_host = host;
    server_port = port;
    size_t cap = 0;
    for (const struct conf_entry *e = conf_get(sec, "exec"); e; e = conf_next(sec, "exec", e))
        cap++;
    if (!cap)
        return 0;
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
    return (int)nexec;
}

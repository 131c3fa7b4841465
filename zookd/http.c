/* The HTTP core: see http.h. */
#define _GNU_SOURCE
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int http_err_status(enum http_err e)
{
    switch (e) {
    case HTTP_OK: return 200;
    case HTTP_INCOMPLETE: return 400;
    case HTTP_CLOSED: return 400;
    case HTTP_E_BAD_REQUEST: return 400;
    case HTTP_E_FORBIDDEN: return 403;
    case HTTP_E_NOT_FOUND: return 404;
    case HTTP_E_METHOD: return 405;
    case HTTP_E_TIMEOUT: return 408;
    case HTTP_E_LENGTH_REQUIRED: return 411;
    case HTTP_E_BODY_TOO_LARGE: return 413;
    case HTTP_E_URI_TOO_LONG: return 414;
    case HTTP_E_HEADERS_TOO_LARGE: return 431;
    case HTTP_E_INTERNAL: return 500;
    case HTTP_E_BAD_GATEWAY: return 502;
    case HTTP_E_UNAVAILABLE: return 503;
    case HTTP_E_GATEWAY_TIMEOUT: return 504;
    case HTTP_E_VERSION: return 505;
    }
    return 500;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The end of the line starting at p: the LF within n bytes, or NULL. The
 * line's content ends before it, and before a CR just ahead of it (RFC 9112
 * section 2.2: a bare LF is accepted as a line end). *next is the start of
 * the following line. */
static const char *find_eol(const char *p, size_t n, const char **next)
{
    const char *lf = memchr(p, '\n', n);
    if (!lf)
        return NULL;
    *next = lf + 1;
    return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

size_t http_head_end(const char *buf, size_t len, size_t from)
{
    /* the terminator is LF [CR] LF: new bytes may complete one that began
     * up to two bytes earlier */
    size_t i = from > 2 ? from - 2 : 0;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf)
            return 0;
        size_t k = (size_t)(lf - buf) + 1;
        if (k < len && buf[k] == '\n')
            return k + 1;
        if (k + 1 < len && buf[k] == '\r' && buf[k + 1] == '\n')
            return k + 2;
        i = k;
    }
    return 0;
}

size_t http_skip_empty_lines(const char *buf, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i < len && buf[i] == '\n')
            i++;
        else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            i += 2;
        else
            return i;
    }
}

/* "HTTP/1.x" -> minor, or the error it deserves. */
static enum http_err parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
        p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return HTTP_E_BAD_REQUEST;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return HTTP_E_VERSION;
    *minor = p[7] - '0';
    return HTTP_OK;
}

/* Header lines from p (just after the first line) to the empty line. */
static enum http_err parse_headers(const char *buf, size_t len, const char *p,
                                   struct http_head *h)
{
    const char *end = buf + len;
    const char *start = p;
    h->nheaders = 0;
    for (;;) {
        size_t used = (size_t)(p - start);
        size_t avail = (size_t)(end - p);
        /* A line may end at most where the header block limit ends. */
        size_t room = HTTP_MAX_HEADER_BYTES - used;
        size_t scan = avail < room ? avail : room;
        const char *next;
        const char *eol = find_eol(p, scan, &next);
        if (!eol)
            return avail >= room ? HTTP_E_HEADERS_TOO_LARGE : HTTP_INCOMPLETE;
        if (eol == p) {
            h->len = (size_t)(next - buf);
            return HTTP_OK;
        }
        if (h->nheaders == HTTP_MAX_HEADERS)
            return HTTP_E_HEADERS_TOO_LARGE;
        /* name ":" OWS value OWS; no obs-fold, no space before ':' */
        const char *q = p;
        while (q < eol && is_tchar((unsigned char)*q))
            q++;
        if (q == p || q == eol || *q != ':')
            return HTTP_E_BAD_REQUEST;
        struct http_header *hd = &h->headers[h->nheaders++];
        hd->name.p = p;
        hd->name.n = (size_t)(q - p);
        hd->line.p = p;
        hd->line.n = (size_t)(eol - p);
        const char *v = q + 1;
        for (const char *c = v; c < eol; c++)
            if (!is_value_char((unsigned char)*c))
                return HTTP_E_BAD_REQUEST;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        const char *ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        hd->value.p = v;
        hd->value.n = (size_t)(ve - v);
        p = next;
    }
}

/* Reset h and find the end of the first line, which must fit the limit. */
static enum http_err first_line(const char *buf, size_t len, struct http_head *h,
                                enum http_err too_long, const char **eol, const char **next)
{
    memset(h, 0, offsetof(struct http_head, headers));
    h->nheaders = 0;
    size_t scan = len < HTTP_MAX_REQUEST_LINE + 2 ? len : HTTP_MAX_REQUEST_LINE + 2;
    *eol = find_eol(buf, scan, next);
    if (!*eol)
        return len >= HTTP_MAX_REQUEST_LINE + 2 ? too_long : HTTP_INCOMPLETE;
    if (*eol - buf > HTTP_MAX_REQUEST_LINE)
        return too_long;
    return HTTP_OK;
}

enum http_err http_parse_request(const char *buf, size_t len, struct http_head *h)
{
    const char *eol, *next;
    enum http_err e = first_line(buf, len, h, HTTP_E_URI_TOO_LONG, &eol, &next);
    if (e != HTTP_OK)
        return e;

    /* method SP target SP version */
    const char *p = buf;
    while (p < eol && is_tchar((unsigned char)*p))
        p++;
    if (p == buf || p == eol || *p != ' ' || (size_t)(p - buf) > HTTP_MAX_METHOD)
        return HTTP_E_BAD_REQUEST;
    h->method.p = buf;
    h->method.n = (size_t)(p - buf);
    const char *t = ++p;
    while (p < eol && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    if (p == t || p == eol || *p != ' ')
        return HTTP_E_BAD_REQUEST;
    h->target.p = t;
    h->target.n = (size_t)(p - t);
    if (*t != '/')
        return HTTP_E_BAD_REQUEST;
    p++;
    e = parse_version(p, (size_t)(eol - p), &h->minor);
    if (e != HTTP_OK)
        return e;
    h->line.p = buf;
    h->line.n = (size_t)(eol - buf);
    return parse_headers(buf, len, next, h);
}

enum http_err http_parse_response(const char *buf, size_t len, struct http_head *h)
{
    const char *eol, *next;
    enum http_err fl = first_line(buf, len, h, HTTP_E_BAD_GATEWAY, &eol, &next);
    if (fl != HTTP_OK)
        return fl;
    size_t n = (size_t)(eol - buf);
    /* "HTTP/1.x NNN" [SP reason] */
    if (n < 12 || buf[8] != ' ' || (n > 12 && buf[12] != ' '))
        return HTTP_E_BAD_GATEWAY;
    if (parse_version(buf, 8, &h->minor) != HTTP_OK)
        return HTTP_E_BAD_GATEWAY;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return HTTP_E_BAD_GATEWAY;
        status = status * 10 + (buf[i] - '0');
    }
    if (status < 100)
        return HTTP_E_BAD_GATEWAY;
    for (size_t i = 12; i < n; i++)
        if (!is_value_char((unsigned char)buf[i]))
            return HTTP_E_BAD_GATEWAY;
    h->status = status;
    h->line.p = buf;
    h->line.n = n;
    enum http_err e = parse_headers(buf, len, next, h);
    if (e == HTTP_E_BAD_REQUEST || e == HTTP_E_HEADERS_TOO_LARGE)
        return HTTP_E_BAD_GATEWAY;
    return e;
}

int http_name_is(struct http_span name, const char *want)
{
    size_t n = strlen(want);
    return name.n == n && strncasecmp(name.p, want, n) == 0;
}

const struct http_header *http_find(const struct http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (http_name_is(h->headers[i].name, name))
            return &h->headers[i];
    return NULL;
}

int http_has_token(const struct http_head *h, const char *name, const char *token)
{
    size_t tn = strlen(token);
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!http_name_is(h->headers[i].name, name))
            continue;
        const char *p = h->headers[i].value.p, *end = p + h->headers[i].value.n;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *s = p;
            while (p < end && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == tn && strncasecmp(s, token, tn) == 0)
                return 1;
        }
    }
    return 0;
}

int64_t http_parse_uint(const char *p, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The one Content-Length value (repeats must agree), -1 if none, -2 if bad. */
static int64_t content_length(const struct http_head *h)
{
    int64_t found = -1;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!http_name_is(h->headers[i].name, "content-length"))
            continue;
        int64_t v = http_parse_uint(h->headers[i].value.p, h->headers[i].value.n);
        if (v < 0 || (found >= 0 && v != found))
            return -2;
        found = v;
    }
    return found;
}

enum http_err http_request_body(const struct http_head *h, uint64_t max_body,
                                struct http_body *b)
{
    int64_t cl = content_length(h);
    int has_te = http_find(h, "transfer-encoding") != NULL;
    b->kind = BODY_NONE;
    b->length = 0;
    if (cl == -2 || (has_te && cl >= 0))
        return HTTP_E_BAD_REQUEST;
    if (has_te)
        return HTTP_E_LENGTH_REQUIRED;
    if (cl > 0) {
        if ((uint64_t)cl > max_body)
            return HTTP_E_BODY_TOO_LARGE;
        b->kind = BODY_LENGTH;
        b->length = (uint64_t)cl;
    }
    return HTTP_OK;
}

enum http_err http_response_body(const struct http_head *h, int is_head_request,
                                 struct http_body *b)
{
    b->kind = BODY_NONE;
    b->length = 0;
    if (is_head_request || h->status < 200 || h->status == 204 || h->status == 304)
        return HTTP_OK;
    if (http_find(h, "transfer-encoding")) {
        /* chunked last: self-delimiting for the client; otherwise until close */
        const struct http_header *te = NULL;
        for (size_t i = 0; i < h->nheaders; i++)
            if (http_name_is(h->headers[i].name, "transfer-encoding"))
                te = &h->headers[i];
        const char *v = te->value.p;
        size_t n = te->value.n;
        b->kind = (n >= 7 && strncasecmp(v + n - 7, "chunked", 7) == 0 &&
                   (n == 7 || v[n - 8] == ' ' || v[n - 8] == ','))
                      ? BODY_CHUNKED
                      : BODY_UNTIL_CLOSE;
        return HTTP_OK;
    }
    int64_t cl = content_length(h);
    if (cl == -2)
        return HTTP_E_BAD_GATEWAY;
    if (cl >= 0) {
        b->kind = cl ? BODY_LENGTH : BODY_NONE;
        b->length = (uint64_t)cl;
    } else {
        b->kind = BODY_UNTIL_CLOSE;
    }
    return HTTP_OK;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
       CH_TRAILER_LINE, CH_FINAL_LF, CH_DONE };

long http_chunked_feed(struct http_chunked *c, const char *p, size_t n, int *done)
{
    *done = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)p[i];
        switch (c->state) {
        case CH_SIZE:
            if (hexval(ch) >= 0) {
                if (++c->digits > 15)
                    return -1;
                c->left = c->left * 16 + (uint64_t)hexval(ch);
                i++;
                continue;
            }
            if (c->digits == 0)
                return -1;
            if (ch == ';' || ch == ' ' || ch == '\t')
                c->state = CH_EXT;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n')
                c->state = c->left ? CH_DATA : CH_TRAILER;
            else
                return -1;
            i++;
            continue;
        case CH_EXT:
            if (ch == '\n')
                c->state = c->left ? CH_DATA : CH_TRAILER;
            else if (++c->trailer > HTTP_MAX_HEADER_BYTES)
                return -1;
            i++;
            continue;
        case CH_SIZE_LF:
            if (ch != '\n')
                return -1;
            c->state = c->left ? CH_DATA : CH_TRAILER;
            i++;
            continue;
        case CH_DATA: {
            size_t take = n - i < c->left ? n - i : (size_t)c->left;
            c->left -= take;
            i += take;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (ch == '\r' && c->state == CH_DATA_CR)
                c->state = CH_DATA_LF;
            else if (ch == '\n')
                c->state = CH_SIZE, c->digits = 0, c->trailer = 0;
            else
                return -1;
            i++;
            continue;
        case CH_TRAILER:
            if (ch == '\r')
                c->state = CH_FINAL_LF;
            else if (ch == '\n')
                c->state = CH_DONE;
            else
                c->state = CH_TRAILER_LINE;
            i++;
            break;
        case CH_TRAILER_LINE:
            if (ch == '\n')
                c->state = CH_TRAILER;
            i++;
            break;
        case CH_FINAL_LF:
            if (ch != '\n')
                return -1;
            c->state = CH_DONE;
            i++;
            break;
        default:
            return -1;
        }
        if (c->state == CH_DONE) {
            *done = 1;
            return (long)i;
        }
        if (++c->trailer > HTTP_MAX_HEADER_BYTES)
            return -1;
    }
    return (long)i;
}

int http_keep_alive(const struct http_head *req)
{
    if (req->minor == 0)
        return 0;
    return !http_has_token(req, "connection", "close");
}


enum http_err http_decode_path(const char *target, size_t n, char *out, size_t cap,
                               size_t *outlen)
{
    size_t o = 0;
    *outlen = 0;
    out[0] = '\0';
    /* 1. percent-decode the path part, refusing what can never be a file name */
    for (size_t i = 0; i < n && target[i] != '?'; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c == '%') {
            if (i + 2 >= n)
                return HTTP_E_BAD_REQUEST;
            int hi = hexval((unsigned char)target[i + 1]);
            int lo = hexval((unsigned char)target[i + 2]);
            if (hi < 0 || lo < 0)
                return HTTP_E_BAD_REQUEST;
            c = (unsigned char)(hi * 16 + lo);
            if (c == '/')
                return HTTP_E_BAD_REQUEST; /* an encoded separator hides a segment */
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '#')
            return HTTP_E_BAD_REQUEST;
        if (o + 2 > cap)
            return HTTP_E_URI_TOO_LONG;
        out[o++] = (char)c;
    }
    if (o == 0 || out[0] != '/')
        return HTTP_E_BAD_REQUEST;
    /* 2. normalise in place: the write index never passes the read index */
    int trailing = out[o - 1] == '/' || (o >= 2 && out[o - 1] == '.' && out[o - 2] == '/');
    size_t r = 0, w = 0;
    while (r < o) {
        while (r < o && out[r] == '/')
            r++;
        if (r == o)
            break;
        size_t s = r;
        while (r < o && out[r] != '/')
            r++;
        size_t seg = r - s;
        if (seg == 1 && out[s] == '.')
            continue;
        if (seg == 2 && out[s] == '.' && out[s + 1] == '.')
            return HTTP_E_BAD_REQUEST;
        out[w++] = '/';
        memmove(out + w, out + s, seg);
        w += seg;
    }
    if (w == 0 || trailing)
        out[w++] = '/';
    out[w] = '\0';
    *outlen = w;
    return HTTP_OK;
}

struct http_span http_query(struct http_span target)
{
    const char *q = memchr(target.p, '?', target.n);
    struct http_span s = {target.p + target.n, 0};
    if (q) {
        s.p = q + 1;
        s.n = (size_t)(target.p + target.n - s.p);
    }
    return s;
}

enum http_err http_parse_cgi(const char *o, size_t n, struct http_cgi *c)
{
    int has_type = 0, has_location = 0;
    size_t pos = 0;
    c->status = 0;
    c->reason.p = o;
    c->reason.n = 0;
    c->nheaders = 0;
    for (;;) {
        size_t room = HTTP_MAX_HEADER_BYTES > pos ? HTTP_MAX_HEADER_BYTES - pos : 0;
        const char *nl = memchr(o + pos, '\n', n - pos < room ? n - pos : room);
        if (!nl)
            return HTTP_E_INTERNAL; /* no end of the header within the limit */
        const char *line = o + pos;
        size_t ll = (size_t)(nl - line);
        pos += ll + 1;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            break;
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line)
            return HTTP_E_INTERNAL;
        struct http_span name = {line, (size_t)(colon - line)};
        for (size_t i = 0; i < name.n; i++)
            if (!is_tchar((unsigned char)name.p[i]))
                return HTTP_E_INTERNAL;
        const char *v = colon + 1, *ve = line + ll;
        for (const char *p = v; p < ve; p++)
            if (!is_value_char((unsigned char)*p))
                return HTTP_E_INTERNAL;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (http_name_is(name, "status")) {
            int64_t code = ve - v >= 3 ? http_parse_uint(v, 3) : -1;
            if (code < 100 || code > 599 || (ve - v > 3 && v[3] != ' '))
                return HTTP_E_INTERNAL;
            c->status = (int)code;
            const char *r = v + 3;
            while (r < ve && *r == ' ')
                r++;
            c->reason.p = r;
            c->reason.n = (size_t)(ve - r);
            continue;
        }
        if (http_name_is(name, "content-length") || http_name_is(name, "connection") ||
            http_name_is(name, "transfer-encoding") || http_name_is(name, "keep-alive"))
            continue; /* the server frames the answer */
        if (c->nheaders == HTTP_MAX_HEADERS)
            return HTTP_E_INTERNAL;
        has_type |= http_name_is(name, "content-type");
        has_location |= http_name_is(name, "location");
        struct http_header *h = &c->headers[c->nheaders++];
        h->name = name;
        h->value.p = v;
        h->value.n = (size_t)(ve - v);
        h->line.p = line;
        h->line.n = ll;
    }
    if (!c->status && !has_type && !has_location)
        return HTTP_E_INTERNAL;
    if (!c->status)
        c->status = has_location ? 302 : 200;
    c->body = pos;
    return HTTP_OK;
}

size_t http_error_response(char *out, size_t cap, int status)
{
    const char *reason = http_reason(status);
    char body[160];
    int bn = snprintf(body, sizeof body, "<html><body><h1>%d %s</h1></body></html>\n",
                      status, reason);
    if (bn < 0)
        bn = 0;
    if ((size_t)bn >= sizeof body)
        bn = sizeof body - 1;
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %d\r\n"
                     "Connection: close\r\n"
                     "\r\n%s",
                     status, reason, bn, body);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

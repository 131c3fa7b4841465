/* The HTTP core shared by zookd2 and zookfs.
 *
 * Every parser here is a pure function over (pointer, length): it allocates
 * nothing, never reads past the length it is given, and returns pointers into
 * the caller's buffer. Errors are values of enum http_err; http_err_status()
 * is the one place that turns them into HTTP status codes.
 */
#ifndef ZOOK_HTTP_H
#define ZOOK_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Limits (bytes). The request line excludes its line end; the header block
 * counts every header line with its line end plus the final empty line.
 * Lines end in CRLF or a bare LF (RFC 9112 section 2.2); a CR anywhere
 * else in a line is refused. */
#define HTTP_MAX_REQUEST_LINE 8192
#define HTTP_MAX_HEADER_BYTES 65536
#define HTTP_MAX_HEADERS 100
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define HTTP_MAX_HEAD (HTTP_MAX_REQUEST_LINE + 2 + HTTP_MAX_HEADER_BYTES)
#define HTTP_MAX_METHOD 32

enum http_err {
    HTTP_OK = 0,
    HTTP_INCOMPLETE,          /* need more bytes (not an error yet) */
    HTTP_CLOSED,              /* peer went away or stayed silent: no answer */
    HTTP_E_BAD_REQUEST,       /* 400 malformed request, path escape */
    HTTP_E_FORBIDDEN,         /* 403 */
    HTTP_E_NOT_FOUND,         /* 404 */
    HTTP_E_METHOD,            /* 405 */
    HTTP_E_TIMEOUT,           /* 408 head not complete in time */
    HTTP_E_LENGTH_REQUIRED,   /* 411 chunked request bodies are refused */
    HTTP_E_BODY_TOO_LARGE,    /* 413 */
    HTTP_E_URI_TOO_LONG,      /* 414 */
    HTTP_E_HEADERS_TOO_LARGE, /* 431 */
    HTTP_E_INTERNAL,          /* 500 */
    HTTP_E_BAD_GATEWAY,       /* 502 backend unreachable or bad answer */
    HTTP_E_UNAVAILABLE,       /* 503 too many connections */
    HTTP_E_GATEWAY_TIMEOUT,   /* 504 backend or CGI script too slow */
    HTTP_E_VERSION,           /* 505 */
};

/* The status code for an error (200 for HTTP_OK). */
int http_err_status(enum http_err e);
/* Reason phrase for a status code ("Unknown" if we never send it). */
const char *http_reason(int status);

struct http_span {
    const char *p;
    size_t n;
};

struct http_header {
    struct http_span name;  /* as sent */
    struct http_span value; /* without surrounding whitespace */
    struct http_span line;  /* the whole line, without CRLF */
};

struct http_head {
    struct http_span method;  /* request only */
    struct http_span target;  /* request only */
    struct http_span line;    /* request or status line, without CRLF */
    int status;               /* response only */
    int minor;                /* HTTP/1.<minor> */
    size_t nheaders;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t len;               /* bytes of the head, final CRLF included */
};

/* Parse a request head at the start of buf. HTTP_OK fills h (h->len is the
 * head's size); HTTP_INCOMPLETE means no limit is exceeded yet but the head
 * has not ended; anything else is the error to answer with. */
enum http_err http_parse_request(const char *buf, size_t len, struct http_head *h);
/* Same for a response head (status line "HTTP/1.x NNN reason"). */
enum http_err http_parse_response(const char *buf, size_t len, struct http_head *h);

/* Offset just past the end of the head in buf (the first empty line: LF
 * [CR] LF), searching from `from` (which may point into a partial
 * terminator); 0 if there is none. */
size_t http_head_end(const char *buf, size_t len, size_t from);
/* How many bytes of empty lines (CRLF or LF) start buf: a server ignores
 * them before a request line (RFC 9112 section 2.2). */
size_t http_skip_empty_lines(const char *buf, size_t len);

/* Case-insensitive header lookup: the first header named `name`, or NULL. */
const struct http_header *http_find(const struct http_head *h, const char *name);
/* Does any `name` header contain `token` in its comma-separated list? */
int http_has_token(const struct http_head *h, const char *name, const char *token);
int http_name_is(struct http_span name, const char *want);

/* How a message body is delimited. */
enum http_body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };
struct http_body {
    enum http_body_kind kind;
    uint64_t length; /* BODY_LENGTH */
};
/* Request body framing: Content-Length (one value, digits only, <= max_body)
 * or none; Transfer-Encoding is refused with 411, both at once with 400. */
enum http_err http_request_body(const struct http_head *h, uint64_t max_body,
                                struct http_body *b);
/* Response body framing, given the request method (HEAD has no body). */
enum http_err http_response_body(const struct http_head *h, int is_head_request,
                                 struct http_body *b);
/* Does the client want the connection kept after this request? */
int http_keep_alive(const struct http_head *req);

/* Finding the end of a chunked body without changing it (for relaying).
 * Zero-initialise, then feed bytes as they arrive. */
struct http_chunked {
    int state;
    int digits;
    uint64_t left;     /* data bytes left in the current chunk */
    size_t trailer;    /* trailer bytes seen (bounded) */
};
/* Returns how many of the n bytes belong to the body (all of them unless
 * it ended inside them, which sets *done), or -1 if the framing is bad. */
long http_chunked_feed(struct http_chunked *c, const char *p, size_t n, int *done);

/* Decode the path of an origin-form target (up to '?') into out and
 * normalise it: percent-decoding, "//" and "." segments removed. Refused
 * with 400: "..", NUL, encoded '/', backslash, control bytes, bad escapes,
 * '#', no leading '/'. out gets a NUL-terminated path; cap must be > 0. */
enum http_err http_decode_path(const char *target, size_t n, char *out, size_t cap,
                               size_t *outlen);
/* The query string (after '?', possibly empty) of a target. */
struct http_span http_query(struct http_span target);

/* A CGI script's response head (RFC 3875 section 6): header lines ending
 * in LF or CRLF, up to an empty line, then the body. */
struct http_cgi {
    int status;              /* Status:, else 302 with a Location, else 200 */
    struct http_span reason; /* from Status: (may be empty) */
    size_t nheaders;         /* the others, minus the framing ones (Content-Length,
                              * Connection, Transfer-Encoding, Keep-Alive) */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t body;             /* offset of the body in the output */
};
/* HTTP_OK, or HTTP_E_INTERNAL for output that is no CGI response (no
 * empty line within the limit, a bad line, a bad Status, too many headers,
 * none of Status, Content-Type and Location). */
enum http_err http_parse_cgi(const char *o, size_t n, struct http_cgi *c);

/* Write a complete error response (small HTML body, Connection: close) into
 * out; returns its length (truncated to cap, which 512 bytes always fits). */
size_t http_error_response(char *out, size_t cap, int status);

/* Parse a non-negative decimal of at most 18 digits; -1 if not exactly that. */
int64_t http_parse_uint(const char *p, size_t n);

#endif

// fetch: a small curl for spells, using spell_guest.h. Each URL is one request; with -L a 3xx
// response's absolute `location` is requested next (up to 5 hops), and every hop is checked by
// the host like any request.
//
//   fetch [-X METHOD] [-H 'Name: value']... [-d BODY] [-t TIMEOUT_MS] [-c BODY_CAP] [-L] URL...
//
// For each request it prints `> METHOD URL`, then `< rc=RC status=S headers=H body=B`, then the
// H bytes of response headers, the B body bytes and a newline. Exit code: 0 when every request returned SPELL_NET_OK, else 1.
//
// Build: clang-14 --target=wasm32-wasi -O2 -I guest/include guest/examples/fetch.c -o fetch.wasm
#include <spell_guest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOPS 5

static char headers_in[16384];
static size_t headers_in_len;
static char headers_out[16384];
static char next_url[8192];

// Copies the value of the response header `location` into next_url; 0 if there is none.
static int find_location(const char *headers, uint32_t len) {
    const char *p = headers, *end = headers + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        if (nl - p > 10 && !memcmp(p, "location: ", 10)) {
            size_t n = (size_t)(nl - p - 10);
            if (n >= sizeof next_url) return 0;
            memcpy(next_url, p + 10, n);
            next_url[n] = 0;
            return 1;
        }
        p = nl + 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *method = "GET", *data = "";
    uint32_t timeout_ms = 0, body_cap = 65536;
    int follow = 0, failed = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "-L")) { follow = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "fetch: %s needs a value\n", opt); return 64; }
        const char *v = argv[++i];
        if (!strcmp(opt, "-X")) method = v;
        else if (!strcmp(opt, "-d")) data = v;
        else if (!strcmp(opt, "-t")) timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(opt, "-c")) body_cap = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(opt, "-H")) {
            size_t n = strlen(v);
            if (headers_in_len + n + 1 > sizeof headers_in) { fprintf(stderr, "fetch: too many headers\n"); return 64; }
            memcpy(headers_in + headers_in_len, v, n);
            headers_in_len += n;
            headers_in[headers_in_len++] = '\n';
        } else { fprintf(stderr, "fetch: unknown option %s\n", opt); return 64; }
    }
    uint8_t *body = malloc(body_cap ? body_cap : 1);
    if (!body) { fprintf(stderr, "fetch: out of memory\n"); return 70; }
    for (; i < argc; i++) {
        const char *url = argv[i], *m = method, *d = data;
        for (int hop = 0; hop <= MAX_HOPS; hop++) {
            spell_http_request_t req = {
                m, (uint32_t)strlen(m), url, (uint32_t)strlen(url),
                headers_in, (uint32_t)headers_in_len, (const uint8_t *)d, (uint32_t)strlen(d), timeout_ms,
            };
            spell_http_response_t resp = SPELL_HTTP_RESPONSE(headers_out, sizeof headers_out, body, body_cap);
            int32_t rc = spell_http_request(&req, &resp);
            printf("> %s %s\n< rc=%d status=%u headers=%u body=%u\n", m, url, rc, resp.status, resp.headers_len, resp.body_len);
            fwrite(headers_out, 1, resp.headers_len, stdout);
            fwrite(body, 1, resp.body_len, stdout);
            printf("\n");
            if (rc != SPELL_NET_OK) failed = 1;
            int redirect = rc == SPELL_NET_OK && resp.status >= 300 && resp.status < 400;
            if (!follow || !redirect || !find_location(headers_out, resp.headers_len)) break;
            url = next_url;
            m = "GET";
            d = "";
        }
    }
    free(body);
    return failed;
}

/*
 * spell_guest.h: what a spell (a WebAssembly guest) can ask of the Spell host beyond WASI.
 *
 * For C guests built with clang for wasm32-wasi, e.g.
 *     clang-14 --target=wasm32-wasi -O2 -I guest/include spell.c -o module.wasm
 *
 * Outbound HTTP
 * -------------
 * spell_http_request() asks the host to make one HTTP/1.1 request on the guest's behalf. The
 * spell's manifest must ask for the destination (capabilities.network, e.g.
 * "https://api.example.com") and the host's policy must grant it; a module importing this
 * function without any network grant is refused at load.
 *
 * What the host guarantees and enforces:
 *   - only granted scheme://host:port destinations (E-NET-001 otherwise);
 *   - the host name is resolved by the host, and loopback, private, link-local, unique-local,
 *     multicast and cloud-metadata addresses are refused unless the policy allows that address
 *     range ([network] allow_addresses) (E-NET-002); the connection goes to the checked address;
 *   - redirects are not followed: a 3xx response is returned as is, and following its
 *     `location` is a new request, checked again;
 *   - at most net_requests requests per cast (E-NET-003 beyond, the cast goes on);
 *   - at most net_bytes bytes per cast, request and response heads and bodies together; a
 *     request that would pass it ends the cast (outcome network_limit): the call does not return;
 *   - the request ends at timeout_ms (E-NET-004) or at the cast's wall-time deadline, where the
 *     cast ends (outcome timeout);
 *   - the host sets host, content-length, transfer-encoding, connection, te, trailer and upgrade;
 *     passing any of them is a malformed request (E-NET-005).
 *
 * Example:
 *     static char headers[4096], body[65536];
 *     spell_http_request_t req = SPELL_HTTP_GET("https://api.example.com/v1/time");
 *     spell_http_response_t resp = SPELL_HTTP_RESPONSE(headers, sizeof headers, body, sizeof body);
 *     int32_t rc = spell_http_request(&req, &resp);
 *     if (rc == SPELL_NET_OK) printf("%u: %.*s\n", resp.status, (int)resp.body_len, body);
 *     else printf("E-NET-%03d: %.*s\n", rc - 800, (int)resp.body_len, body);
 */
#ifndef SPELL_GUEST_H
#define SPELL_GUEST_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes of spell_http_request(): 0, or the number of a catalog code (docs/error-codes.md). */

/** A response arrived, whatever its HTTP status. */
#define SPELL_NET_OK 0
/** E-NET-001 net_not_granted: the URL's scheme, host or port is not granted to this spell. */
#define SPELL_E_NET_NOT_GRANTED 801
/** E-NET-002 net_address_blocked: the host resolves only to addresses the SSRF guard refuses. */
#define SPELL_E_NET_ADDRESS_BLOCKED 802
/**
 * E-NET-003 net_limit: the cast's request limit is reached (status is 0, nothing was sent), or
 * the response does not fit the buffers (status and lengths are set; the buffers hold what fit:
 * whole header lines, the start of the body).
 */
#define SPELL_E_NET_LIMIT 803
/** E-NET-004 net_timeout: timeout_ms passed before the response was complete. */
#define SPELL_E_NET_TIMEOUT 804
/**
 * E-NET-005 net_request_invalid: bad method, URL, header line or memory range. When the
 * response struct itself is out of bounds nothing is written.
 */
#define SPELL_E_NET_REQUEST_INVALID 805
/** E-NET-006 net_transport: connecting, TLS or the HTTP exchange failed. */
#define SPELL_E_NET_TRANSPORT 806

/**
 * A request (36 bytes, read by the host). Strings are not NUL-terminated: lengths count bytes.
 */
typedef struct spell_http_request {
    /** Method, e.g. "GET", "POST"; length 0 means GET. At most 32 bytes; CONNECT is refused. */
    const char *method;
    uint32_t method_len;
    /** Absolute http or https URL, UTF-8, at most 8 KiB, without user:password. */
    const char *url;
    uint32_t url_len;
    /** Header lines "Name: value\n" ("\r\n" also accepted), at most 64 KiB; may be empty. */
    const char *headers;
    uint32_t headers_len;
    /** The request body; content-length is set from body_len. */
    const uint8_t *body;
    uint32_t body_len;
    /** Milliseconds the whole request may take; 0 means until the cast's deadline. */
    uint32_t timeout_ms;
} spell_http_request_t;

/**
 * A response (28 bytes): the guest provides the buffers, the host fills in status and lengths.
 */
typedef struct spell_http_response {
    /** Out: the HTTP status, or 0 when the request failed. */
    uint32_t status;
    /** In: buffer for the response headers as "name: value\n" lines, names lowercase. */
    char *headers;
    uint32_t headers_cap;
    /** Out: bytes written to headers. */
    uint32_t headers_len;
    /**
     * In: buffer for the response body; its size is the largest body this request accepts
     * (reading stops there, see SPELL_E_NET_LIMIT). On failure it receives the reason as text.
     */
    uint8_t *body;
    uint32_t body_cap;
    /** Out: bytes written to body. */
    uint32_t body_len;
} spell_http_response_t;

_Static_assert(sizeof(void *) != 4 || sizeof(spell_http_request_t) == 36, "wasm32 layout");
_Static_assert(sizeof(void *) != 4 || sizeof(spell_http_response_t) == 28, "wasm32 layout");

/**
 * Makes one HTTP request through the host. Returns SPELL_NET_OK or a SPELL_E_NET_* code; see
 * the top of this file for what the host enforces.
 */
__attribute__((import_module("spell"), import_name("http_request")))
int32_t spell_http_request(const spell_http_request_t *request, spell_http_response_t *response);

/** A GET request for a NUL-terminated URL, no headers, no body, no timeout of its own. */
#define SPELL_HTTP_GET(url_cstr) \
    ((spell_http_request_t){"GET", 3, (url_cstr), (uint32_t)strlen(url_cstr), "", 0, 0, 0, 0})

/** A response struct over two buffers. */
#define SPELL_HTTP_RESPONSE(headers_buf, headers_size, body_buf, body_size) \
    ((spell_http_response_t){0, (headers_buf), (uint32_t)(headers_size), 0, (uint8_t *)(body_buf), (uint32_t)(body_size), 0})

#ifdef __cplusplus
}
#endif

#endif /* SPELL_GUEST_H */

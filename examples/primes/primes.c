// A tool spell for `spell mcp`: counts the primes below a bound.
//
// The convention every tool spell follows: the call's arguments arrive on stdin as one JSON
// object, already checked against the manifest's `tool.input_schema`; the result goes to stdout,
// here JSON matching `tool.output_schema`; a non-zero exit (with a reason on stderr) is a failed
// call. Limits still apply: a large bound runs into the spell's wall-time limit, which ends the
// call as a `timeout` error result.
//
// Input:  {"below": 100}
// Output: {"below":100,"count":25,"largest":97}
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The integer value of `"key": <digits>` in a flat JSON object, or -1 when absent or malformed.
// The server has validated the schema; this only has to be safe, not a full JSON parser.
static long long json_integer(const char *json, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(json, quoted);
    if (!at) return -1;
    at += strlen(quoted);
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
    if (*at++ != ':') return -1;
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
    if (*at < '0' || *at > '9') return -1;
    long long value = 0;
    for (; *at >= '0' && *at <= '9'; at++) {
        if (value > 100000000000LL) return -1;
        value = value * 10 + (*at - '0');
    }
    return value;
}

static int is_prime(long long n) {
    if (n < 2) return 0;
    for (long long d = 2; d * d <= n; d++) {
        if (n % d == 0) return 0;
    }
    return 1;
}

int main(void) {
    static char input[4096];
    size_t len = fread(input, 1, sizeof input - 1, stdin);
    input[len] = '\0';
    long long below = json_integer(input, "below");
    if (below < 0) {
        fprintf(stderr, "expected {\"below\": <non-negative integer>} on stdin\n");
        return 2;
    }
    long long count = 0, largest = 0;
    for (long long n = 2; n < below; n++) {
        if (is_prime(n)) {
            count++;
            largest = n;
        }
    }
    printf("{\"below\":%lld,\"count\":%lld,\"largest\":%lld}\n", below, count, largest);
    return 0;
}

// A multi-purpose WASI guest for the runtime's tests. argv[1] picks what it does:
//   echo ARGS...   print the arguments, $GREETING, then stdin
//   exit N         exit with code N
//   read PATH      print the file's contents (exit 1 with the error if it cannot)
//   write PATH     write "written" to the file (exit 1 with the error if it cannot)
//   stderr TEXT    write TEXT to stderr
//   spin           loop forever doing arithmetic
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *path) {
    printf("error: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    const char *mode = argv[1];
    if (!strcmp(mode, "echo")) {
        for (int i = 2; i < argc; i++) printf("arg:%s\n", argv[i]);
        const char *g = getenv("GREETING");
        printf("env:%s\n", g ? g : "(unset)");
        char buf[512];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
        return 0;
    }
    if (!strcmp(mode, "exit") && argc > 2) return atoi(argv[2]);
    if (!strcmp(mode, "read") && argc > 2) {
        FILE *f = fopen(argv[2], "r");
        if (!f) return fail("open", argv[2]);
        char buf[512];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
        fclose(f);
        return 0;
    }
    if (!strcmp(mode, "write") && argc > 2) {
        FILE *f = fopen(argv[2], "w");
        if (!f) return fail("open", argv[2]);
        if (fputs("written", f) < 0 || fclose(f) != 0) return fail("write", argv[2]);
        printf("ok\n");
        return 0;
    }
    if (!strcmp(mode, "stderr") && argc > 2) {
        fputs(argv[2], stderr);
        return 0;
    }
    if (!strcmp(mode, "spin")) {
        volatile unsigned x = 1;
        for (;;) x = x * 1103515245u + 12345u;
    }
    return 64;
}

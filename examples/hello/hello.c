// The bundled example spell: greets its first argument (or the HELLO_NAME variable, or "world")
// and echoes stdin, so one cast exercises args, env, stdin and stdout.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : getenv("HELLO_NAME");
    printf("Hello, %s!\n", name ? name : "world");
    char buf[256];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        fwrite(buf, 1, n, stdout);
    }
    return 0;
}

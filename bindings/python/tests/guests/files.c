// Prints /data/<argv[1]>; given a second argument, writes it to /data/<argv[1]> instead.
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        return 2;
    }
    char path[256];
    snprintf(path, sizeof path, "/data/%s", argv[1]);
    FILE *f = fopen(path, argc > 2 ? "w" : "r");
    if (!f) {
        perror(path);
        return 1;
    }
    if (argc > 2) {
        fputs(argv[2], f);
    } else {
        char buf[256];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            fwrite(buf, 1, n, stdout);
        }
    }
    return fclose(f) == 0 ? 0 : 1;
}

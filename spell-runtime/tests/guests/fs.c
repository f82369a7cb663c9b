// A WASI guest for the file-system guards' tests. argv[1] picks what it does; each mode prints
// its result (`errno=N` is the WASI errno of a failure) and exits 0 unless noted:
//   open N PATH        open PATH N times without closing; print how many opened
//   reopen N PATH      open and close PATH N times; print how many opened
//   read PATH          print the file's contents (exit 1 with the errno if it cannot)
//   symlink TARGET LINK  create a symbolic link
//   write PATH N       write N bytes to a new file in 64 KiB writes; print the bytes written
//   sparse PATH OFFSET write one byte at OFFSET of a new file
//   truncate PATH SIZE set a new file's size
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("%s errno=%d\n", what, errno);
    return 1;
}

static int create(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

int main(int argc, char **argv) {
    if (argc < 3) return 64;
    const char *mode = argv[1];
    if ((!strcmp(mode, "open") || !strcmp(mode, "reopen")) && argc > 3) {
        long n = atol(argv[2]), opened = 0;
        for (; opened < n; opened++) {
            int fd = open(argv[3], O_RDONLY);
            if (fd < 0) break;
            if (!strcmp(mode, "reopen")) close(fd);
        }
        printf("opened %ld errno=%d\n", opened, opened < n ? errno : 0);
        return 0;
    }
    if (!strcmp(mode, "read")) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return fail("open");
        char buf[512];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
        return n < 0 ? fail("read") : 0;
    }
    if (!strcmp(mode, "symlink") && argc > 3) {
        if (symlink(argv[2], argv[3]) != 0) return fail("symlink");
        printf("ok\n");
        return 0;
    }
    if (!strcmp(mode, "write") && argc > 3) {
        static char chunk[64 << 10];
        memset(chunk, 'x', sizeof chunk);
        long long n = atoll(argv[3]), done = 0;
        int fd = create(argv[2]);
        if (fd < 0) return fail("open");
        while (done < n) {
            size_t want = n - done < (long long)sizeof chunk ? (size_t)(n - done) : sizeof chunk;
            ssize_t w = write(fd, chunk, want);
            if (w < 0) return fail("write");
            done += w;
        }
        printf("wrote %lld\n", done);
        return 0;
    }
    if (!strcmp(mode, "sparse") && argc > 3) {
        int fd = create(argv[2]);
        if (fd < 0) return fail("open");
        if (lseek(fd, (off_t)atoll(argv[3]), SEEK_SET) < 0) return fail("lseek");
        if (write(fd, "x", 1) != 1) return fail("write");
        printf("ok\n");
        return 0;
    }
    if (!strcmp(mode, "truncate") && argc > 3) {
        int fd = create(argv[2]);
        if (fd < 0) return fail("open");
        if (ftruncate(fd, (off_t)atoll(argv[3])) != 0) return fail("ftruncate");
        printf("ok\n");
        return 0;
    }
    return 64;
}

/*
 * conffile.c -- Debian's memcached.conf format (see conffile.h).
 *
 * The file is read whole (it is small; CONFFILE_MAX_BYTES bounds it),
 * then each line is cleaned (comment cut, "\#" unescaped) into a second
 * buffer as NUL-terminated words, whose addresses the caller passes to
 * getopt_long as if they had been typed.
 */
#include "config.h"

#include "daemon/conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reading state: the raw file, the cleaned words, where we are. */
struct reader {
    struct conffile *cf;
    FILE *err;
    char *raw;
    size_t nraw;
    size_t w;               /* bytes of cf->text written */
    size_t cap;             /* entries of cf->words and cf->line */
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Read PATH whole into RD->raw (NUL-terminated). */
static int
read_all(struct reader *rd, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    ssize_t n;
    size_t got = 0;

    if (fd < 0 || fstat(fd, &st) != 0) {
        goto fail_io;
    }
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail_io;
    }
    rd->raw = malloc(CONFFILE_MAX_BYTES + 2);
    if (rd->raw == NULL) {
        goto fail_io;
    }
    while ((n = read(fd, rd->raw + got, CONFFILE_MAX_BYTES + 1 - got)) > 0) {
        got += (size_t)n;
        if (got > CONFFILE_MAX_BYTES) {
            fprintf(rd->err, "emberd: invalid value '%s' for --config: "
                    "expected a file of at most %u bytes\n", path,
                    CONFFILE_MAX_BYTES);
            close(fd);
            return CONFFILE_EFORMAT;
        }
    }
    if (n < 0) {
        goto fail_io;
    }
    close(fd);
    rd->raw[got] = '\0';
    rd->nraw = got;
    return CONFFILE_OK;

fail_io:
    fprintf(rd->err, "emberd: invalid value '%s' for --config: expected a "
            "readable file (%s)\n", path, strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return CONFFILE_EIO;
}

/*
 * Clean line P[0..N) into OUT: cut at an unescaped '#', "\#" becomes
 * '#', white space trimmed at both ends. Returns the cleaned length.
 */
static size_t
clean_line(const char *p, size_t n, char *out)
{
    size_t i, w = 0;

    for (i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n && p[i + 1] == '#') {
            out[w++] = '#';
            i++;
        } else if (p[i] == '#') {
            break;
        } else {
            out[w++] = p[i];
        }
    }
    while (w > 0 && is_space(out[w - 1])) {
        w--;
    }
    i = 0;
    while (i < w && is_space(out[i])) {
        i++;
    }
    memmove(out, out + i, w - i);
    return w - i;
}

static bool
add_word(struct reader *rd, char *word, unsigned line)
{
    struct conffile *cf = rd->cf;

    if (cf->nwords == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 32;
        char **words = realloc(cf->words, cap * sizeof(*words));
        unsigned *lines;

        if (words == NULL) {
            return false;
        }
        cf->words = words;
        lines = realloc(cf->line, cap * sizeof(*lines));
        if (lines == NULL) {
            return false;
        }
        cf->line = lines;
        rd->cap = cap;
    }
    cf->words[cf->nwords] = word;
    cf->line[cf->nwords] = line;
    cf->nwords++;
    return true;
}

/* Split the cleaned line S[0..N) (in cf->text) into words, in place. */
static int
take_words(struct reader *rd, char *s, size_t n, unsigned line)
{
    size_t i = 0;

    while (i < n) {
        while (i < n && is_space(s[i])) {
            s[i++] = '\0';
        }
        if (i == n) {
            break;
        }
        if (!add_word(rd, s + i, line)) {
            fprintf(rd->err, "emberd: --config %s: out of memory\n",
                    rd->cf->path);
            return CONFFILE_EIO;
        }
        while (i < n && !is_space(s[i])) {
            i++;
        }
    }
    return CONFFILE_OK;
}

/* "DIRECTIVE VALUE" in S[0..N) (cleaned, NUL at S[N]). */
static int
take_directive(struct reader *rd, char *s, size_t n, unsigned line)
{
    struct conffile *cf = rd->cf;
    size_t i = 0;
    char *value;

    while (i < n && !is_space(s[i])) {
        i++;
    }
    value = s + i;
    while (*value != '\0' && is_space(*value)) {
        *value++ = '\0';
    }
    s[i] = '\0';
    if (strcmp(s, "logfile") != 0 || *value == '\0') {
        fprintf(rd->err, "emberd: %s:%u: unknown line '%s%s%s' (expected "
                "options starting with '-', or 'logfile PATH')\n", cf->path,
                line, s, *value != '\0' ? " " : "", value);
        return CONFFILE_EFORMAT;
    }
    /* as if "--log-file PATH" had been typed: the command line wins */
    snprintf(cf->log_file_opt, sizeof(cf->log_file_opt), "--log-file");
    if (!add_word(rd, cf->log_file_opt, line) ||
        !add_word(rd, value, line)) {
        fprintf(rd->err, "emberd: --config %s: out of memory\n", cf->path);
        return CONFFILE_EIO;
    }
    return CONFFILE_OK;
}

/* One raw line P[0..N), number LINE. */
static int
take_line(struct reader *rd, const char *p, size_t n, unsigned line)
{
    char *s = rd->cf->text + rd->w;
    size_t len = clean_line(p, n, s);

    s[len] = '\0';
    rd->w += len + 1;
    if (len == 0) {
        return CONFFILE_OK;
    }
    if (s[0] == '-' && (s[1] == 'd' || s[1] == 'h')) {
        /* Debian's wrappers skip these lines too */
        fprintf(rd->err, "emberd: warning: %s:%u: '%s' ignored (in a "
                "configuration file emberd runs in the foreground, as "
                "under Debian's memcached wrapper; -d on the command line "
                "still detaches)\n", rd->cf->path, line, s);
        return CONFFILE_OK;
    }
    if (s[0] == '-') {
        return take_words(rd, s, len, line);
    }
    return take_directive(rd, s, len, line);
}

int
conffile_load(struct conffile *cf, const char *path, FILE *err)
{
    struct reader rd = { cf, err, NULL, 0, 0, 0 };
    const char *p, *nl, *end;
    unsigned line = 0;
    int rc;

    memset(cf, 0, sizeof(*cf));
    cf->path = path;
    rc = read_all(&rd, path);
    if (rc != CONFFILE_OK) {
        free(rd.raw);
        return rc;
    }
    /* cleaning never makes a line longer; one NUL per line */
    cf->text = malloc(rd.nraw + 2);
    if (cf->text == NULL) {
        fprintf(err, "emberd: --config %s: out of memory\n", path);
        free(rd.raw);
        return CONFFILE_EIO;
    }
    end = rd.raw + rd.nraw;
    for (p = rd.raw; rc == CONFFILE_OK && p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            nl = end;
        }
        rc = take_line(&rd, p, (size_t)(nl - p), ++line);
    }
    free(rd.raw);
    if (rc != CONFFILE_OK) {
        conffile_release(cf);
    }
    return rc;
}

void
conffile_release(struct conffile *cf)
{
    free(cf->text);
    free(cf->words);
    free(cf->line);
    memset(cf, 0, sizeof(*cf));
}

/*
 * embersnap_main.c -- main() of embersnap: everything else is es_main()
 * (embersnap.c), which the Check suite calls directly.
 */
#include "config.h"

#include "tools/embersnap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    int rc = es_main(argc, argv, stdout, stderr, -1);

    /* A full disk or closed pipe must not pass for a complete listing. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "embersnap: writing output: %s\n", strerror(errno));
        exit(ES_EXIT_USAGE);
    }
    exit(rc);
}

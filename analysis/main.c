/*
 * main.c — the lorascope program: git-style dispatch to the subcommands of
 * the table in commands.c. This file parses nothing itself. Under an MPI launcher (a build
 * with MPI: make MPI=1, build/mpi/lorascope) it starts and ends MPI around the command, and
 * only the commands marked multi_rank in the table run on more than one rank.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dist.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: lorascope <command> [options]   (lorascope <command> --help)\n\n"
                "lorascope %s — train LoRA adapters and analyse what they learn.\n\ncommands:\n",
            LSC_VERSION);
    for (size_t i = 0; i < n_commands; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "  %-10s %s\n", "help", "this list; `help COMMAND` is COMMAND --help");
    fprintf(fp, "  %-10s %s\n", "version", "the version (also --version, -V)");
    fprintf(fp, "\nExit status: 0 ok, 1 failure, 2 usage error.\n");
}

static const char *command_name(const void *items, int i) { return ((const command *)items)[i].name; }

/* "unknown command 'X'" with the closest command name, then the command list. */
static int unknown_command(const char *name)
{
    const char *best = cli_closest(name, (int)n_commands, command_name, commands);
    if (best)
        fprintf(stderr, "lorascope: unknown command '%s' (did you mean '%s'?)\n", cli_safe(name), best);
    else
        fprintf(stderr, "lorascope: unknown command '%s'\n", cli_safe(name));
    usage(stderr);
    return CLI_USAGE;
}

/* The command on this rank. On several ranks only multi_rank commands run; a failure (exit 1)
 * of one rank ends them all (the others may be waiting for it), a usage error (exit 2, the same
 * on every rank) does not need to. */
static int run_command(const command *c, int argc, char **argv)
{
    if (dist_size() > 1 && !c->multi_rank) {
        if (dist_rank() == 0)
            fprintf(stderr, "lorascope %s: runs on one rank only (started on %d MPI ranks; "
                            "only train, pretrain and sweep run on several)\n", c->name, dist_size());
        return CLI_USAGE;
    }
    int rc = c->fn(argc, argv);
    if (rc == CLI_FAIL)
        dist_abort(rc);
    return rc;
}

int main(int argc, char **argv)
{
    cli_memory_guard(argv);
    if (dist_begin(&argc, &argv) != 0)
        return CLI_FAIL;
    cli_set_command_line(argc, argv);
    int rc;
    if (argc < 2) {
        usage(stderr);
        rc = CLI_USAGE;
    } else {
        const char    *name = argv[1];
        const command *c    = command_find(name);
        if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
            const command *h = argc > 2 ? command_find(argv[2]) : NULL;
            char *hargv[] = {argc > 2 ? argv[2] : NULL, "--help", NULL};
            if (h)
                rc = h->fn(2, hargv);
            else if (argc > 2)
                rc = unknown_command(argv[2]);
            else {
                usage(stdout);
                rc = CLI_OK;
            }
        } else if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 ||
                   strcmp(name, "version") == 0) {
            printf("lorascope %s\n", LSC_VERSION);
            rc = CLI_OK;
        } else if (c) {
            rc = run_command(c, argc - 1, argv + 1);
        } else {
            rc = unknown_command(name);
        }
    }
    dist_end();
    return rc;
}

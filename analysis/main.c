/*
 * main.c — the lorascope program: git-style dispatch to the subcommands of
 * the table in commands.c. This file parses nothing itself.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

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

int main(int argc, char **argv)
{
    cli_memory_guard(argv);
    cli_set_command_line(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        const command *c = argc > 2 ? command_find(argv[2]) : NULL;
        if (c) {
            char *hargv[] = {argv[2], "--help", NULL};
            return c->fn(2, hargv);
        }
        if (argc > 2)
            return unknown_command(argv[2]);
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 || strcmp(name, "version") == 0) {
        printf("lorascope %s\n", LSC_VERSION);
        return CLI_OK;
    }
    const command *c = command_find(name);
    if (c)
        return c->fn(argc - 1, argv + 1);
    return unknown_command(name);
}

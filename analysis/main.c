/*
 * main.c — the lorascope program: git-style dispatch to the subcommands.
 * Each subcommand lives in its own file under analysis/ and is registered
 * in the table below. This file parses nothing itself.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_inspect(int argc, char **argv);

static const struct {
    const char *name;
    cli_cmd_fn  fn;
    const char *summary;
} commands[] = {
    {"inspect",  cmd_inspect,  "list tensors and LoRA modules of an adapter or safetensors file"},
    /* COMMANDS-END (one line per subcommand above this marker) */
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: lorascope <command> [options]   (lorascope <command> --help)\n\n"
                "lorascope %s — train LoRA adapters and analyse what they learn.\n\ncommands:\n",
            LSC_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "  %-10s %s\n", "help", "this list");
    fprintf(fp, "\nExit status: 0 ok, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    cli_set_command_line(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2) {
            char *hargv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0)
                    return commands[i].fn(2, hargv);
        }
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("lorascope %s\n", LSC_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lorascope: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}

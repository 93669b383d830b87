/*
 * commands.h — the lorascope subcommands: one entry point per file under
 * analysis/, declared here once and registered in the table of commands.c.
 * A new subcommand is a new file plus one prototype here and one table row.
 *
 * Each entry point is int cmd_X(int argc, char **argv) with argv[0] = "X";
 * it returns the exit status (0 ok, 1 failure, 2 usage error) and prints
 * its help for --help.
 */
#ifndef LSC_COMMANDS_H
#define LSC_COMMANDS_H

#include <stddef.h>

#include "cli.h"

typedef struct command {
    const char *name;
    cli_cmd_fn  fn;
    const char *summary;   /* one line, for `lorascope help` and the man page */
    int         multi_rank; /* 1: may run on several MPI ranks (train, pretrain, sweep); the
                               others refuse in main.c when started on more than one */
} command;

/* The table, in the order `lorascope help` lists it. */
extern const command commands[];
extern const size_t  n_commands;
/* The entry named name, or NULL. */
const command *command_find(const char *name);

int cmd_inspect(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);
int cmd_subspace(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_amplify(int argc, char **argv);
int cmd_intruders(int argc, char **argv);
int cmd_diagnose(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_deltaspec(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_combine(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_quanterr(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_regress(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_trajectory(int argc, char **argv);

#endif /* LSC_COMMANDS_H */

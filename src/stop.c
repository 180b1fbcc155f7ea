/*
 * smimepub command line: SIGINT, SIGTERM and a closed output stop a run between changes.
 *
 * The handler does no work: it records the signal, and the engine, which polls the flag
 * through smp_session_options.cancel, stops sending modifies, waits for the ones in flight,
 * voids the undo records of those not sent and reports every item not done as skipped
 * (interrupted). So the journal stays whole and `smimepub undo --last` undoes what was done.
 * SA_RESETHAND: a second signal is not caught and ends the process at once, for someone who
 * cannot wait for the writes in flight (what reached the journal stays valid: see journal.h).
 */
#include "stop.h"

#include <stdio.h>
#include <string.h>


volatile sig_atomic_t cli_stop;

static size_t items, interrupted;

static void on_signal(int sig)
{
	if (cli_stop == 0)
		cli_stop = sig;
}

void cli_stop_install(int handle)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (!handle)
		return;
	sa.sa_handler = on_signal;
	/* SA_RESTART: reads and writes in progress go on; waits (poll, nanosleep) still return
	   early, so the engine sees the flag soon */
	sa.sa_flags = SA_RESETHAND | SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_stop_output_lost(void)
{
	if (cli_stop == 0)
		cli_stop = SIGPIPE;
}

void cli_stop_no_memory(void)
{
	if (cli_stop == 0)
		cli_stop = CLI_STOP_NOMEM;
}

void cli_stop_count(const smp_item *item)
{
	items++;
	if (item->reason != NULL && strcmp(item->reason, "interrupted") == 0)
		interrupted++;
}

static const char *stop_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case CLI_STOP_NOMEM: return "lack of memory";
	default: return "a closed output";
	}
}

int cli_stop_exit(const char *command, int is_audit, int status)
{
	int sig = cli_stop;

	if (sig == 0)
		return status;
	if (is_audit) {
		fprintf(stderr, "smimepub: audit stopped by %s: incomplete\n", stop_name(sig));
		return 3;
	}
	if (items > 0)
		fprintf(stderr, "smimepub: %s stopped by %s between changes: %zu items reported, "
			"%zu of them not done (skipped, interrupted); the journal holds every change "
			"made: 'smimepub undo --last' undoes them\n", command, stop_name(sig), items,
			interrupted);
	else
		fprintf(stderr, "smimepub: %s stopped by %s\n", command, stop_name(sig));
	if (sig == CLI_STOP_NOMEM)
		return status != 0 ? status : 1;
	return 128 + sig;
}

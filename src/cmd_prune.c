/* smimepub prune: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_prune(struct cli_opts *o)
{
	(void)o;
	cli_error("'prune' is not implemented yet");
	return 1;
}

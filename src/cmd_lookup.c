/* smimepub lookup: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_lookup(struct cli_opts *o)
{
	(void)o;
	cli_error("'lookup' is not implemented yet");
	return 1;
}

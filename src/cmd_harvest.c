/* smimepub harvest: not implemented yet (placeholder so the command table links). */
#include "cli.h"

int cmd_harvest(struct cli_opts *o)
{
	(void)o;
	cli_error("'harvest' is not implemented yet");
	return 1;
}

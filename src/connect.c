/* placeholder: cli_connect is implemented with the directory layer */
#include "cli.h"

int cli_connect(smp_dir **out, const struct cli_opts *o, smp_error *err)
{
	(void)o;
	*out = NULL;
	return smp_error_set(err, SMP_ERR_INTERNAL, "not implemented yet");
}

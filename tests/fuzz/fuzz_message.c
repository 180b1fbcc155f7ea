/* libFuzzer target: one message (MIME, mbox or bare CMS) through the signed-mail intake. */
#include <stddef.h>
#include <stdint.h>

#include "smimepub/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ignore(const smp_message *m, void *ctx)
{
	size_t *count = ctx;

	*count += m->n_signers + (size_t)sk_X509_num(m->carried);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smp_error err = SMP_ERROR_INIT;
	smp_message *m = NULL;
	size_t count = 0;

	if (smp_message_parse(&m, data, size, "fuzz", &err) == 0)
		smp_message_free(m);
	smp_messages_parse(data, size, "fuzz", ignore, &count, &err);
	return 0;
}

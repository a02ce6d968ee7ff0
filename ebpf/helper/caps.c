/* Tells a missing privilege apart from a verifier rejection: both fail with EACCES/EPERM. */
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

static bool has_cap(const struct __user_cap_data_struct *data, int cap)
{
	return data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

bool caps_allow_tracing(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	/* No libcap dependency for one syscall. */
	if (syscall(SYS_capget, &header, data))
		return false;
	return (has_cap(data, CAP_BPF) && has_cap(data, CAP_PERFMON)) ||
	       has_cap(data, CAP_SYS_ADMIN);
}

/* The list-size rules (HACKING.md, invariant 11): a wrapped copy holds as
 * many entries as the list's version says (2.x: 68, 3.0 and 3.1: 92, 3.2:
 * 104), a list from C_GetFunctionList no more than the 2.x ones whatever
 * its version field says, an unknown version passes through unwrapped;
 * entries past the copy's size are never taken from the module's list,
 * and a NULL entry stays NULL. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "p11logout.h"
#include "unit-test.h"

static void getter_here(void) {}
static void module_fn(void) {}

/* How many entries of the wrapped copy COPY were taken from the module. */
static unsigned copied(const p11l_function_list *copy)
{
	const struct p11l_wrapped_list *w = (const struct p11l_wrapped_list *)
		((const char *)copy - offsetof(struct p11l_wrapped_list, copy));

	return w->n;
}

/* A list of version MAJOR.MINOR, every entry set to module_fn but
 * C_Logout, left NULL. */
static p11l_function_list *list_of(p11l_function_list *l, unsigned char major,
				   unsigned char minor)
{
	memset(l, 0, sizeof *l);
	l->version.major = major;
	l->version.minor = minor;
	for (unsigned i = 0; i < P11L_FN_COUNT_MAX; i++)
		l->fn[i] = module_fn;
	l->fn[P11L_C_Logout] = NULL;
	return l;
}

int main(void)
{
	static p11l_function_list lists[8];
	static const struct {
		unsigned char major, minor;
		int from_getter_2x;
		unsigned want;	/* 0: passed through */
	} cases[] = {
		{ 2, 40, 1, P11L_FN_COUNT_2 },
		{ 2, 20, 0, P11L_FN_COUNT_2 },
		{ 3, 0, 0, P11L_FN_COUNT_3_0 },
		{ 3, 1, 0, P11L_FN_COUNT_3_0 },
		{ 3, 2, 0, P11L_FN_COUNT_3_2 },
		/* SoftHSM2 2.7.0 puts 3.2 into its C_GetFunctionList list. */
		{ 3, 2, 1, P11L_FN_COUNT_2 },
		{ 3, 3, 0, 0 },
		{ 1, 0, 0, 0 },
	};
	struct p11l_module *m;

	unit_hermetic("unit-list.conf");
	p11l_entry_points_init();
	m = p11l_module_for_getter((void *)(p11l_fn)getter_here);
	if (!unit_check(m != NULL, "a module record for this program"))
		return unit_done();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p11l_function_list *real = list_of(&lists[i], cases[i].major, cases[i].minor);
		const p11l_function_list *copy = p11l_wrap_list(m, real, cases[i].from_getter_2x);
		const char *from = cases[i].from_getter_2x ? "C_GetFunctionList" : "an interface";

		if (cases[i].want == 0) {
			unit_check(copy == NULL, "version %u.%u from %s: passed through unwrapped",
				   cases[i].major, cases[i].minor, from);
			continue;
		}
		/* Six lists per module: the later cases get none. */
		if (!unit_check(copy != NULL && copy != real, "version %u.%u from %s: wrapped",
				cases[i].major, cases[i].minor, from))
			continue;
		unit_check(copied(copy) == cases[i].want, "version %u.%u from %s: %u entries (want %u)",
			   cases[i].major, cases[i].minor, from, copied(copy), cases[i].want);
		unit_check(copy->fn[P11L_C_Logout] == NULL,
			   "version %u.%u from %s: the module's NULL C_Logout stays NULL",
			   cases[i].major, cases[i].minor, from);
		unit_check(copy->fn[P11L_C_Login] != module_fn && copy->fn[P11L_C_Login] != NULL,
			   "version %u.%u from %s: C_Login is our entry point",
			   cases[i].major, cases[i].minor, from);
		unit_check(copy->fn[P11L_C_Sign] == module_fn,
			   "version %u.%u from %s: C_Sign is the module's own",
			   cases[i].major, cases[i].minor, from);
		unit_check(cases[i].want == P11L_FN_COUNT_MAX ||
			   copy->fn[cases[i].want] == NULL,
			   "version %u.%u from %s: nothing past entry %u taken",
			   cases[i].major, cases[i].minor, from, cases[i].want);
		unit_check(p11l_wrap_list(m, real, cases[i].from_getter_2x) == copy,
			   "version %u.%u from %s: the same list again gets the same copy",
			   cases[i].major, cases[i].minor, from);
		unit_check(p11l_wrap_list(m, copy, 0) == copy,
			   "version %u.%u from %s: our own copy handed back stays as it is",
			   cases[i].major, cases[i].minor, from);
	}
	return unit_done();
}

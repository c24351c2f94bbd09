/* Fuzz target: the settings.  The input is the configuration file and the
 * value of every P11LOGOUT_* variable; the library must not crash or read
 * out of bounds, must give exactly one warning line for each line or value
 * it refuses (none for what it takes) and keep the safe default then, and
 * must end with settings inside their documented ranges.
 *
 * Input: NUL-separated parts.  Part 0 is the file; parts 1 to 8 the values
 * of the variables in the order of config.c's table (a part that starts
 * with byte 1 leaves its variable unset); part 9 a module path that
 * P11LOGOUT_MODULES is matched against.
 *
 * config.c and log.c are compiled into this file, so that their static
 * state can be reset between inputs and each warning line the library
 * writes can be checked: write(2) here is the harness's. */
#define write p11l_fuzz_write
#include "../../preload/config.c"
#include "../../preload/log.c"
#undef write

#include <stdint.h>

#include "fuzz-target.h"

static char captured[1 << 16];
static size_t captured_len;

ssize_t p11l_fuzz_write(int fd, const void *buf, size_t len)
{
	if (fd != STDERR_FILENO)
		p11l_fuzz_fail("the library wrote to descriptor %d", fd);
	if (len > sizeof captured - captured_len)
		len = sizeof captured - captured_len;
	memcpy(captured + captured_len, buf, len);
	captured_len += len;
	return (ssize_t)len;
}

/* The lines written since the last call; each must be one whole line of
 * ours, without control characters (a value with a newline or an escape
 * sequence must not forge or hide a line). */
static unsigned warning_lines(void)
{
	static const char prefix[] = "libp11logout: ";
	unsigned lines = 0;
	size_t start = 0;

	for (size_t i = 0; i < captured_len; i++) {
		unsigned char c = (unsigned char)captured[i];

		if (c == '\n') {
			if (i - start < sizeof prefix - 1 ||
			    memcmp(captured + start, prefix, sizeof prefix - 1) != 0)
				p11l_fuzz_fail("a line without our prefix: '%.*s'",
					       (int)(i - start), captured + start);
			lines++;
			start = i + 1;
		} else if (c < 0x20 || c == 0x7f) {
			p11l_fuzz_fail("control character 0x%02x in a line: '%.*s'", c,
				       (int)(captured_len - start), captured + start);
		}
	}
	if (start != captured_len)
		p11l_fuzz_fail("a line without its newline");
	captured_len = 0;
	return lines;
}

static void release_strings(struct p11l_config *c)
{
	free(c->modules);
	free(c->module);
	c->modules = c->module = NULL;
}

static unsigned long known_signals(void)
{
	unsigned long set = 0;

	for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
		set |= 1UL << signal_names[i].sig;
	return set;
}

/* Everything a taken value may set stays in its documented range. */
static void check_ranges(const struct p11l_config *c)
{
	if (c->debug != 0 && c->debug != 1)
		p11l_fuzz_fail("debug=%d", c->debug);
	if (c->timeout > P11L_MAX_SECONDS || c->wait > P11L_MAX_SECONDS)
		p11l_fuzz_fail("timeout=%u wait=%u", c->timeout, c->wait);
	if ((unsigned)c->mode > P11L_MODE_FINALIZE)
		p11l_fuzz_fail("mode=%d", (int)c->mode);
	if (c->log_syslog != 0 && c->log_syslog != 1)
		p11l_fuzz_fail("log=%d", c->log_syslog);
	if (c->signals & ~known_signals())
		p11l_fuzz_fail("signals=%#lx", c->signals);
	if ((c->modules && !*c->modules) || (c->module && !*c->module))
		p11l_fuzz_fail("an empty text setting was taken");
}

static int same_settings(const struct p11l_config *a, const struct p11l_config *b)
{
	return a->debug == b->debug && a->timeout == b->timeout &&
	       a->wait == b->wait && a->mode == b->mode &&
	       a->log_syslog == b->log_syslog && a->modules == b->modules &&
	       a->module == b->module && a->signals == b->signals;
}

/* Whether SETTING takes VALUE: the parsers depend on the value alone. */
static int takes(const struct setting *s, const char *value)
{
	struct p11l_config scratch;
	int ok;

	set_defaults(&scratch);
	ok = s->parse(value, &scratch, s->offset);
	release_strings(&scratch);
	return ok;
}

/* How many warnings the file's lines must give: one for each line that is
 * not a comment, not blank and not a known key with a value it takes. */
static unsigned expected_file_warnings(const char *file)
{
	char *copy = strdup(file), *line, *next;
	unsigned n = 0;

	if (!copy)
		abort();
	for (line = copy; line; line = next) {
		char *eq, *key;
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			n++;
			continue;
		}
		*eq = '\0';
		key = trim(line);
		for (i = 0; i < sizeof settings / sizeof settings[0]; i++)
			if (strcmp(key, settings[i].key) == 0)
				break;
		if (i == sizeof settings / sizeof settings[0] ||
		    !takes(&settings[i], trim(eq + 1)))
			n++;
	}
	free(copy);
	return n;
}

/* A pattern taken is one the library uses: one without wildcards selects
 * the module of that very path. */
static void check_patterns(const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ":");
		char *pattern = strndup(p, len);

		if (!pattern)
			abort();
		if (len && !strpbrk(pattern, "*?[\\") && !p11l_module_selected(pattern))
			p11l_fuzz_fail("P11LOGOUT_MODULES took '%.60s' (%zu bytes) but never matches it",
				       pattern, len);
		free(pattern);
		p += len;
		if (*p == ':')
			p++;
	}
}

#define NSETTINGS (sizeof settings / sizeof settings[0])

static char config_path[64];

static void setup(void)
{
	static int done;
	int fd;

	if (done)
		return;
	done = 1;
	snprintf(config_path, sizeof config_path, "/tmp/p11l-fuzz-config.%ld", (long)getpid());
	fd = open(config_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || p11l_libc_missing())
		abort();
	close(fd);
	/* Consumes the library's own once: load() is called below instead. */
	setenv("P11LOGOUT_CONFIG", config_path, 1);
	pthread_once(&config_once, load);
	(void)p11l_config();
	release_strings(&config);
	captured_len = 0;
}

/* The whole input is the file: the library reads it up to its first NUL,
 * and at most CONFIG_FILE_MAX bytes. */
static void write_file(const uint8_t *data, size_t len)
{
	FILE *f = fopen(config_path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[NSETTINGS + 2] = { 0 };
	char *text = malloc(size + 1);
	size_t nparts = 0, start = 0;
	struct p11l_config defaults;
	unsigned expected = 0;

	setup();
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i <= size && nparts < NSETTINGS + 2; i++) {
		if (i == size || text[i] == '\0') {
			part[nparts++] = text + start;
			start = i + 1;
		}
	}
	write_file(data, size);
	if (strlen(part[0]) > CONFIG_FILE_MAX)
		text[CONFIG_FILE_MAX] = '\0';

	/* Each value on its own, from the defaults: taken and in range, or
	 * one warning and the default kept. */
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = part[i + 1];

		if (!v || *v == '\1')
			continue;
		set_defaults(&config);
		defaults = config;
		apply(&settings[i], v, NULL);
		unsigned w = warning_lines();
		if (w == 0) {
			check_ranges(&config);
		} else if (w == 1) {
			if (!same_settings(&config, &defaults))
				p11l_fuzz_fail("%s refused but changed a setting", settings[i].variable);
			expected++;
		} else {
			p11l_fuzz_fail("%s: %u warnings for one value", settings[i].variable, w);
		}
		release_strings(&config);
	}

	/* All of it through the library's own reading: the file, then the
	 * variables. */
	expected += expected_file_warnings(part[0]);
	for (size_t i = 0; i < NSETTINGS; i++) {
		const char *v = part[i + 1];

		if (v && *v != '\1')
			setenv(settings[i].variable, v, 1);
		else
			unsetenv(settings[i].variable);
	}
	load();
	unsigned w = warning_lines();
	if (w != expected)
		p11l_fuzz_fail("%u warnings, %u lines or values refused", w, expected);
	check_ranges(&config);
	check_patterns(config.modules);
	if (part[NSETTINGS + 1])
		(void)p11l_module_selected(part[NSETTINGS + 1]);
	if (config.debug && !config.log_syslog) {
		p11l_config_banner();
		if (warning_lines() != 1)
			p11l_fuzz_fail("the banner is not one line");
	}
	release_strings(&config);
	set_defaults(&config);
	free(text);
	return 0;
}

/* The anchor for the cost of preloading anything: a shared object with one
 * function and nothing else. */
int p11l_bench_minimal(void);
int p11l_bench_minimal(void)
{
	return 0;
}

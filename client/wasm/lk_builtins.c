/*
 * lk_builtins.c — the compiler runtime function the core needs, smaller than
 * compiler-rt's.  The core divides a 128-bit integer only to print a counter
 * total that overflowed (lk_int128_text, for an error message), where speed
 * does not matter: compiler-rt's __udivti3 with its __udivmodti4 and shifts
 * made the module 0.3 KB larger than this bit-by-bit long division.
 */

unsigned __int128 __udivti3(unsigned __int128 n, unsigned __int128 d);

/* n / d: the quotient's bits shift into n as the dividend's shift out of it. */
unsigned __int128
__udivti3(unsigned __int128 n, unsigned __int128 d)
{
	unsigned __int128 r = 0;

	for (int i = 0; i < 128; i++)
	{
		r = r << 1 | n >> 127;
		n <<= 1;
		if (r >= d)
		{
			r -= d;
			n |= 1;
		}
	}
	return n;
}

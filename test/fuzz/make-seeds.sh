#!/bin/sh
# make-seeds.sh — write the seed corpus of the fuzz targets, one file per
# example, valid and invalid.  The files are committed; rerun this script
# (from test/fuzz) only to change them.  Binary seeds are printf escapes,
# text seeds are literal JSON.  "split-*" seeds are [k][k bytes][rest]: two
# binary values for the targets' lattice checks.  fuzz_guard's seeds are
# described with their section below.
set -e
cd "$(dirname "$0")/corpus"
rm -rf gcounter pncounter orset
mkdir -p fuzz_gcounter fuzz_pncounter fuzz_orset fuzz_lwwreg fuzz_guard
b() { printf "$2" > "$1"; }			# binary seed
t() { printf '%s' "$2" > "$1"; }	# text seed

MAX='\377\377\377\377\377\377\377\377\177'
P63='\200\200\200\200\200\200\200\200\200\001'

cd fuzz_gcounter
b bin-empty '\021\000'
b bin-two '\021\002\001a\003\001b\005'
b bin-max-count "\021\001\001n$MAX"
b bin-multibyte-ids '\021\003\001z\001\003\346\227\245\200\001\004\360\237\232\200\002'
b bin-bad-unsorted '\021\002\001b\001\001a\001'
b bin-bad-duplicate '\021\002\001a\001\001a\002'
b bin-bad-zero-count '\021\001\001a\000'
b bin-bad-count-2p63 "\021\001\001a$P63"
b bin-bad-overlong '\021\001\001a\205\000'
b bin-bad-version '\041\000'
b bin-bad-kind '\023\000\000'
b bin-bad-trailing '\021\000\000'
b bin-bad-control-id '\021\001\001\012\001'
b bin-bad-utf8-id '\021\001\002\300\200\001'
b bin-bad-lying-count '\021\177\001a\001'
b split-two '\010\021\002\001a\003\001b\005\021\002\001b\007\001c\001'
b split-overflow "\015\021\001\001a$MAX\021\001\001a\001"
t json-empty '{}'
t json-example '{"a":3,"b":5}'
t json-loose ' { "b" : 5 ,"c":0,
	"\u0061":3 } '
t json-escapes '{"q\"\\\/\u00e9\ud83d\ude80":1,"日本":2}'
t json-max '{"n":9223372036854775807}'
t json-bad-too-big '{"n":9223372036854775808}'
t json-bad-negative '{"n":-1}'
t json-bad-duplicate '{"a":1,"\u0061":2}'
t json-bad-fraction '{"a":1.5}'
t json-bad-lone-surrogate '{"\ud800":1}'
t json-bad-control-id '{"a\u0001":1}'
t json-bad-empty-id '{"":1}'
t json-bad-unterminated '{"a":1'
t json-bad-trailing '{"a":1} x'
cd ..

cd fuzz_pncounter
b bin-empty '\022\000\000'
b bin-example '\022\001\001a\003\001\001b\001'
b bin-max "\022\001\001a$MAX\001\001a$MAX"
b bin-bad-gcounter '\021\000'
b bin-bad-truncated-n '\022\001\001a\003\001'
b bin-bad-zero-in-n '\022\000\001\001a\000'
b bin-bad-trailing '\022\000\000\000'
b split-two '\011\022\001\001a\003\001\001b\001\022\001\001b\002\000'
t json-empty '{}'
t json-example '{"n":{"b":1},"p":{"a":3}}'
t json-loose ' {"p" : { "a":3, "z":0 }, "n":{}} '
t json-wide '{"p":{"a":9223372036854775807,"b":9223372036854775807},"n":{"c":9223372036854775807}}'
t json-bad-key '{"x":{}}'
t json-bad-duplicate-key '{"p":{},"\u0070":{}}'
t json-bad-half '{"n":[]}'
t json-bad-negative '{"p":{"a":-2}}'
cd ..

cd fuzz_orset
b bin-empty '\023\000\000'
b bin-one '\023\001\001a\001\000\000\001\001x\001\000\001'
b bin-two-nodes '\023\002\001a\002\000\002\001\000\001b\001\001\000\002\001x\002\000\006\001\002\001y\001\000\001'
b bin-top-of-sequence "\023\001\001a\001\376\377\377\377\377\377\377\377\177\000\000"
b bin-escapes '\023\001\001n\001\000\002\003\000\001\000\001\002\001\012\001\000\002\003\001\"\\\001\000\003'
b bin-bad-dot-outside-context '\023\001\001a\001\000\000\001\001x\001\000\002'
b bin-bad-shared-dot '\023\001\001a\001\000\002\002\001x\001\000\001\001y\001\000\001'
b bin-bad-range-overflow "\023\001\001a\001\000$MAX\000"
b bin-bad-unsorted-elements '\023\001\001a\001\000\002\002\001y\001\000\001\001x\001\000\002'
b bin-bad-unsorted-dots '\023\001\001a\001\000\002\001\001x\002\000\002\000\001'
b bin-bad-no-ranges '\023\001\001a\000\000'
b bin-bad-no-dots '\023\001\001a\001\000\000\001\001x\000'
b bin-bad-node-index '\023\001\001a\001\000\000\001\001x\001\001\001'
b bin-bad-element-nul '\023\001\001a\001\000\000\001\003a\000b\001\000\001'
b bin-bad-trailing '\023\000\000\000'
b split-concurrent '\015\023\001\001a\001\000\001\001\001x\001\000\002\023\001\001a\001\000\000\000'
t json-empty '{}'
t json-one '{"c":{"a":[[1,1]]},"e":{"x":{"a":[1]}}}'
t json-loose ' { "e" : { "x" : { "a" : [ 3 , 3 , 1 ] } , "y" : { } } , "c" : { "a" : [ [ 5 , 9 ] , [ 1 , 3 ] , [ 4 , 4 ] ] , "b" : [ ] } } '
t json-escapes '{"c":{"n\u00e9":[[1,3]]},"e":{"":{"né":[1]},"\n\u0001\"\\":{"n\u00e9":[2]},"🚀":{"né":[3]}}}'
t json-top '{"c":{"a":[[1,9223372036854775807]]},"e":{"x":{"a":[9223372036854775807]}}}'
t json-bad-key '{"x":{}}'
t json-bad-range-order '{"c":{"a":[[2,1]]}}'
t json-bad-range-short '{"c":{"a":[[1]]}}'
t json-bad-seq-zero '{"c":{"a":[[0,1]]}}'
t json-bad-dot-outside-context '{"e":{"x":{"a":[1]}}}'
t json-bad-shared-dot '{"c":{"a":[[1,1]]},"e":{"x":{"a":[1]},"y":{"a":[1]}}}'
t json-bad-duplicate-element '{"c":{"a":[[1,2]]},"e":{"x":{"a":[1]},"x":{"a":[2]}}}'
t json-bad-duplicate-node '{"c":{"a":[[1,1]],"\u0061":[[2,2]]}}'
t json-bad-nul-element '{"e":{"x\u0000":{}}}'
t json-bad-seq-too-big '{"c":{"a":[[1,9223372036854775808]]}}'
cd ..

cd fuzz_lwwreg
b bin-empty '\024\000'
b bin-write '\024\001\005\001a\001x'
b bin-max-clock "\024\001$MAX\001a\000"
b bin-escapes '\024\001\200\200\200\200\200\200\200\001\002n\303\251\004\012"\\\001'
b bin-bad-tag '\024\002'
b bin-bad-kind '\023\000\000'
b bin-bad-missing-tag '\024'
b bin-bad-clock-2p63 "\024\001$P63\001a\000"
b bin-bad-overlong-clock '\024\001\205\000\001a\000'
b bin-bad-empty-node '\024\001\005\000\000'
b bin-bad-control-node '\024\001\005\001\012\000'
b bin-bad-nul-value '\024\001\005\001a\003x\000y'
b bin-bad-utf8-value '\024\001\005\001a\001\377'
b bin-bad-value-too-long '\024\001\005\001a\201\200\100'
b bin-bad-trailing '\024\000\000'
b split-two '\007\024\001\005\001a\001x\024\001\006\001b\001y'
b split-clock-tie '\007\024\001\005\001a\001x\024\001\005\001b\001x'
b split-node-tie '\007\024\001\005\001a\001x\024\001\005\001a\002xy'
b split-empty '\002\024\000\024\001\003\001a\000'
t json-empty '{}'
t json-example '{"c":5,"n":"a","v":"x"}'
t json-loose ' { "v" : "x" , "n" :"\u0061", "\u0063" : -0 } '
t json-escapes '{"c":1700000000000000,"n":"n\u00e9","v":"q\"\\\/\n\u0001\ud83d\ude80日本"}'
t json-max-clock '{"c":9223372036854775807,"n":"a","v":""}'
t json-bad-missing '{"c":1,"n":"a"}'
t json-bad-unknown-key '{"c":1,"n":"a","v":"x","w":1}'
t json-bad-duplicate '{"c":1,"\u0063":2,"n":"a","v":"x"}'
t json-bad-negative-clock '{"c":-1,"n":"a","v":"x"}'
t json-bad-clock-too-big '{"c":9223372036854775808,"n":"a","v":"x"}'
t json-bad-nul-value '{"c":1,"n":"a","v":"\u0000"}'
t json-bad-empty-node '{"c":1,"n":"","v":"x"}'
t json-bad-value-type '{"c":1,"n":"a","v":null}'
cd ..

# fuzz_guard (see fuzz_guard.c): a flags byte, then either raw chunks
# [len][recv size][len bytes] ("raw-*", flags bit 0 clear) or the bytes a built
# stream is made from ("built-*": [schedule length][schedule][protocol length]
# [keep-alive body length][body] then per frame [byte 0][shape][length][mask][payload];
# the schedule is pairs [write size][recv size]).  A recv size byte s reads 15 + s
# bytes below 128, 15 + (s - 128) * 32 above; a write size byte w writes w + 1
# bytes below 128, (w - 127) * 32 above.
c() {	# a raw chunk: its recv size byte, then its bytes as printf escapes
	printf "\\$(printf %03o "$(printf "$2" | wc -c)")\\$(printf %03o "$1")$2"
}
rep() { printf "%${2}s" '' | tr ' ' "$1"; }	# $1 repeated $2 times

REQ='GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
TOKEN=$(rep t 150)
cd fuzz_guard
{ printf '\000'; c 255 "${REQ}Sec-WebSocket-Protocol: phoenix\r\n\r\n"
	c 0 '\201\205abcdhello'; c 1 '\211\200abcd'
	c 255 "\202\376\000\202abcd$(rep x 130)"; } > raw-masked-frames
{ printf '\004'; c 255 "${REQ}\r\n"; c 127 '\201\005hello\201\205abcdhello'
	c 0 '\210\202abcd\003\350'; } > raw-unmasked-then-close
{ printf '\002'; for b in '\202' '\376' '\000' '\003' 'a' 'b' 'c' 'd' 'xyz'; do c 0 "$b"; done
	c 0 '\201\002hi'; } > raw-split-header
{ printf '\002'; c 3 '\202\377\000\000\000\000\000\000\000\020abcd'; c 3 "$(rep y 16)"; } > raw-64bit-length
{ printf '\000'; c 40 'GET /health HTTP/1.1\r\nContent-Length: 5\r\n\r\n\201\005ab'
	c 255 "${REQ}\r\n"; c 0 '\201\003abc'; } > raw-keepalive-then-upgrade
{ printf '\000'; c 50 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'; c 0 '\201\002hi'; } > raw-chunked
{ printf '\000'; c 255 "$(printf '%s' "$REQ" | sed 's/\\r//g')"
	c 5 "Sec-WebSocket-Protocol: phoenix, $(rep a 60)"; c 5 "$(rep b 80)\n"
	c 5 "sec-websocket-protocol:\t${TOKEN}\n\n"; c 200 '\201\200abcd'; } > raw-long-protocol-bare-lf
{ printf '\002'; c 0 '\r\n\r\n\000\377\177\200'; c 128 "$(rep '\377' 20)"; } > raw-garbage
printf '\001\000\000\201\000\005abcdhello\211\000\000wxyz\202\100\040abcd' > built-masked
printf '\001\010\000\000\001\001\017\010\377\377\200\201\000\005abcdhello\202\140\001abcdP\212\000\000abcd' > built-split
printf '\101\004\003\000\000\040\040\201\000\005abcdhello\201\200\003abc\210\000\002abcd\003\350\202\000\001abcdz' > built-unmasked
printf '\071\002\007\020\050\020CCCCCCCCCCCCCCCC\201\000\003abcdxyz' > built-keepalive-bare-lf-two-protocols
printf '\305\002\000\001\000\201\200\002hi\210\000\000abcd\201\000\001abcdz' > built-late-bind-unmasked
# protocol lines of 8192 bytes with LF, 8193 with CR LF: the guard's line limit
printf '\021\000\375\201\000\005abcdhello\201\200\002hi' > built-line-at-limit
printf '\101\000\375\201\000\005abcdhello\201\200\002hi' > built-line-past-limit

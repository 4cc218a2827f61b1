"""Meta flags newer than Debian's memcached 1.6.18, tested on their own.

memcached 1.6.18 refuses E (all commands) and md x, and ignores ms N and
ms s; ember implements them as the current protocol.txt describes, so
these tests cannot be compared with the installed memcached and run
against emberd only.  The one-winner test at the end holds for both
servers (run it on memcached with EMBER_TEST_SERVER=memcached)."""

import re
import threading

import ember


class NewFlags(ember.TestCase):

    def setUp(self):
        super().setUp()
        ember.skip_unless_ember("meta flags of memcached 1.6.19+")

    def test_explicit_cas_E(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 2 E500 c\r\nhi\r\n" % k, b"HD c500\r\n")
        self.assertReply(c, b"mg %s c v\r\n" % k, b"VA 2 c500\r\nhi\r\n")
        # compare with the explicit CAS, replace it with another
        self.assertReply(c, b"ms %s 2 C500 E501 c\r\nho\r\n" % k,
                         b"HD c501\r\n")
        self.assertReply(c, b"ms %s 2 C500\r\nho\r\n" % k, b"EX\r\n")
        # md I with E: stale under the given CAS
        self.assertReply(c, b"md %s I E700\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"mg %s c\r\n" % k, b"HD c700 X W\r\n")
        # ma: vivify and increment under explicit CAS values
        n = self.key("n")
        self.assertReply(c, b"ma %s N0 J5 E900 c v\r\n" % n,
                         b"VA 1 c900\r\n5\r\n")
        self.assertReply(c, b"ma %s E901 c v\r\n" % n, b"VA 1 c901\r\n6\r\n")
        # mg E applies to the item it vivifies
        v = self.key("v")
        self.assertReply(c, b"mg %s N30 E42 c\r\n" % v, b"HD c42 W\r\n")

    def test_E_and_flush_all(self):
        """flush_all orders items by CAS: an explicit one must neither hide
        an item stored after the flush nor save one stored before."""
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 1\r\nx\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"ms %shigh 1 E18446744073709551615\r\nx\r\n"
                         % k, b"HD\r\n")
        self.assertReply(c, b"flush_all\r\n", b"OK\r\n")
        self.assertReply(c, b"mg %shigh v\r\n" % k, b"EN\r\n")
        self.assertReply(c, b"ms %s 1 E1\r\ny\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"mg %s v c\r\n" % k, b"VA 1 c1\r\ny\r\n")

    def test_E_does_not_raise_the_counter(self):
        c = self.conn()
        k = self.key()
        c.send(b"ms %s 1 c\r\nx\r\n" % k)
        first = int(re.match(rb"HD c(\d+)", c.read_line()).group(1))
        self.assertReply(c, b"ms %s 1 E%d c\r\nx\r\n" % (k, first + 1000),
                         b"HD c%d\r\n" % (first + 1000))
        c.send(b"ms %s 1 c\r\nx\r\n" % k)
        after = int(re.match(rb"HD c(\d+)", c.read_line()).group(1))
        self.assertLess(after, first + 1000)
        self.assertGreater(after, first)

    def test_md_x_strips_value(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 2 F3 T100\r\nhi\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"md %s x\r\n" % k, b"HD\r\n")
        c.send(b"mg %s v f s t\r\n" % k)
        line = c.read_line()
        self.assertRegex(line, rb"^VA 0 f3 s0 t(9\d|100)\r\n$")
        self.assertEqual(c.read_line(), b"\r\n")
        # with I it is a stale tombstone; T sets its TTL
        self.assertReply(c, b"md %s x I T5\r\n" % k, b"HD\r\n")
        c.send(b"mg %s v t\r\n" % k)
        self.assertRegex(c.read_line(), rb"^VA 0 t[45] X W\r\n$")
        self.assertEqual(c.read_line(), b"\r\n")
        self.assertReply(c, b"md nokey%s x\r\n" % k, b"NF\r\n")

    def test_ms_N_vivifies_append(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 2 MA\r\nhi\r\n" % k, b"NS\r\n")
        self.assertReply(c, b"ms %s 2 MA N60\r\nhi\r\n" % k, b"HD\r\n")
        c.send(b"mg %s v t\r\n" % k)
        self.assertRegex(c.read_line(), rb"^VA 2 t(59|60)\r\n$")
        self.assertEqual(c.read_line(), b"hi\r\n")
        # on a hit N changes nothing: a plain append
        self.assertReply(c, b"ms %s 2 MP N5\r\nyo\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"mg %s v\r\n" % k, b"VA 4\r\nyohi\r\n")

    def test_ms_s_returns_size(self):
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 2 s\r\nhi\r\n" % k, b"HD s2\r\n")
        c.send(b"ms %s 3 MA s c\r\nabc\r\n" % k)
        line = c.read_line()
        self.assertEqual(line, b"HD s5 c%s\r\n" % self.cas_of(c, k))
        self.assertReply(c, b"ms %s 1 ME s\r\nx\r\n" % k, b"NS\r\n")

    def cas_of(self, c, k):
        c.send(b"mg %s c\r\n" % k)
        return re.match(rb"HD c(\d+)", c.read_line()).group(1)

    def test_mg_C_is_accepted(self):
        """mg C compares nothing in 1.6.18 and no current documentation
        gives it a meaning for mg: ember accepts and ignores it."""
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 1\r\nx\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"mg %s C1 v\r\n" % k, b"VA 1\r\nx\r\n")
        self.assertReply(c, b"mg %s C\r\n" % k,
                         b"CLIENT_ERROR bad token in command line format\r\n")

    def test_me_exp_is_ttl_left(self):
        """1.6.18 prints exp=-100 here; later versions exp=100."""
        c = self.conn()
        k = self.key()
        self.assertReply(c, b"ms %s 1 T100\r\nx\r\n" % k, b"HD\r\n")
        c.send(b"me %s\r\n" % k)
        self.assertRegex(c.read_line(), rb"^ME \S+ exp=(99|100) la=\d+ ")

    def test_strict_base64(self):
        c = self.conn()
        self.assertReply(c, b"mg Zm9*v b\r\n",
                         b"CLIENT_ERROR error decoding key\r\n")
        self.assertReply(c, b"mg Zm9v= b\r\n",
                         b"CLIENT_ERROR error decoding key\r\n")


class OneWinner(ember.TestCase):
    """Under a stampede exactly one client is told to recache."""

    def stampede(self, key, line):
        results = []
        barrier = threading.Barrier(16)

        def worker():
            with self.server.connect() as c:
                barrier.wait(timeout=30)
                out = []
                for _ in range(20):
                    out.append(c.request(line % key))
                results.append(out)

        threads = [ember.Background(worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.finish()
        lines = [ln for out in results for ln in out]
        self.assertEqual(len(lines), 16 * 20)
        return lines

    def test_vivify_stampede(self):
        lines = self.stampede(self.key(), b"mg %s N30 c\r\n")
        self.assertEqual(sum(ln.endswith(b" W\r\n") for ln in lines), 1)
        self.assertEqual(sum(ln.endswith(b" Z\r\n") for ln in lines),
                         16 * 20 - 1)

    def test_invalidated_stampede(self):
        k = self.key()
        c = self.conn()
        self.assertReply(c, b"ms %s 3\r\nold\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"md %s I\r\n" % k, b"HD\r\n")
        lines = self.stampede(k, b"mg %s s\r\n")
        self.assertEqual(sum(ln == b"HD s3 X W\r\n" for ln in lines), 1)
        self.assertEqual(sum(ln == b"HD s3 Z X\r\n" for ln in lines),
                         16 * 20 - 1)
        # the winner's recache ends the stale period
        self.assertReply(c, b"ms %s 3\r\nnew\r\n" % k, b"HD\r\n")
        self.assertReply(c, b"mg %s v\r\n" % k, b"VA 3\r\nnew\r\n")


if __name__ == "__main__":
    ember.run_tests()

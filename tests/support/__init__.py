"""What the tests share, one copy each (the tests themselves live in folders named after lvsd's).

- ``skipping``: lab or no lab, and a missing tool: skip, or fail when LVSD_REQUIRE_LAB=1;
- ``waiting``: wait until a condition holds, bounded by a deadline (sync and async);
- ``ports``: a free port on 127.0.0.1;
- ``servers``: simple protocols spoken by Python on 127.0.0.1, and TLS certificates;
- ``switchable``: a web server whose behaviour a test switches (up, 500, wrong page, slow, refused);
- ``smtp_sink``: an SMTP server that keeps what it receives (alert tests);
- ``manual_clock``: a clock the test moves by hand, for the daemon's timers;
- ``daemon``: the daemon in the test's own event loop, with the in-memory table, and its config;
- ``director``: the real ``lvsd`` program in the kernel lab, its sample config and bounds;
- ``kernel``: the kernel's IPVS table read back in the lab (ipvsadm and lvsd's netlink reader).
"""

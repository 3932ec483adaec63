<?php
// More than the probe's page: a session (file handler, locking), temp files,
// a name lookup, a subprocess, JSON and hashing: what a small PHP app does.
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
$f = tempnam(sys_get_temp_dir(), 'ooc');
file_put_contents($f, str_repeat('x', 100000), LOCK_EX);
$h = hash_file('sha256', $f);
unlink($f);
$ip = gethostbyname('localhost');
$out = shell_exec('date -u +%Y');
header('Content-Type: text/plain');
echo "deep ok {$_SESSION['n']} $h $ip $out\n";

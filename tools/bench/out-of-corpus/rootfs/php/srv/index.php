<?php
// Goes through the interpreter, not only the built-in server's static file path.
header('Content-Type: text/plain');
echo 'confine out-of-corpus image: ' . 'php' . ' ' . PHP_VERSION . "\n";
echo json_encode(['time' => time()]), "\n";

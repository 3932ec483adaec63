#!/usr/bin/perl
# The perl sample's server: HTTP::Daemon (pure Perl) answering with a body encoded by
# JSON::XS, a C extension (XS) from Debian's libjson-xs-perl that perl loads with
# dlopen at run time; Digest::SHA (XS, in perl's core) hashes the request path.
use strict;
use warnings;
use HTTP::Daemon;
use HTTP::Response;
use JSON::XS;
use Digest::SHA qw(sha256_hex);

$| = 1;
my $port = $ARGV[0] // 8080;
my $d = HTTP::Daemon->new(LocalAddr => '0.0.0.0', LocalPort => $port, ReuseAddr => 1, Listen => 16)
  or die "cannot listen on $port: $!";
print "listening on $port\n";
my $json = JSON::XS->new->canonical;
my $served = 0;
while (my $c = $d->accept) {
  while (my $r = $c->get_request) {
    $served++;
    my $body = $json->encode({
      image => 'confine sample image: perl',
      perl => sprintf('%vd', $^V),
      path => $r->uri->path,
      sha256 => sha256_hex($r->uri->path),
      served => $served,
    }) . "\n";
    my $res = HTTP::Response->new(200, 'OK', ['Content-Type' => 'application/json'], $body);
    $c->send_response($res);
  }
  $c->close;
  undef $c;
}

// The jvm sample's server: the JDK's own com.sun.net.httpserver, so the JVM loads
// libjava, libnet and libnio with dlopen and serves from JIT-compiled code on a
// thread pool. Compiled by images/build.sh (javac --release 17) at image-build time.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

public final class HelloServer {
  private static final AtomicLong served = new AtomicLong();

  private static void hello(HttpExchange ex) throws IOException {
    String body = "confine sample image: jvm (java " + System.getProperty("java.version")
        + "), request " + served.incrementAndGet() + "\n";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
    ex.sendResponseHeaders(200, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  public static void main(String[] args) throws IOException {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 8080;
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 64);
    server.createContext("/", HelloServer::hello);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    System.out.println("listening on " + port);
  }
}

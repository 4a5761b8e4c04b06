import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch built from Maven Central jars: the real server code (indexing, search,
 * point in time, search_after) with the netty4 HTTP transport loaded from the classpath, because the
 * distribution tarball is not reachable from here. Bootstrap checks and the security manager belong
 * to the distribution's launcher, not to Node, so they do not run.
 *
 * Usage: java -cp <jars>:<classes> EmbeddedNode <home-dir> <http-port> [<transport-port>]
 */
public final class EmbeddedNode {
    private static final class ClasspathPluginNode extends Node {
        ClasspathPluginNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: EmbeddedNode <home-dir> <http-port> [<transport-port>]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int httpPort = Integer.parseInt(args[1]);
        int transportPort = args.length == 3 ? Integer.parseInt(args[2]) : httpPort + 1000;
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "reactive-fabric-test")
            .put("node.name", "rf-node-1")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("discovery.type", "single-node")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // The test machine's disk may be fuller than the default watermarks allow.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();
        LogConfigurator.configureWithoutConfig(settings);
        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "rf-node-1");
        Node node = new ClasspathPluginNode(env, List.of(Netty4Plugin.class));
        node.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (IOException e) {
                e.printStackTrace();
            }
        }));
        System.out.println("OPENSEARCH_READY http://127.0.0.1:" + httpPort);
        System.out.flush();
        Thread.currentThread().join();
    }
}

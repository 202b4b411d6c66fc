// Curator's EnsembleTracker against a server that changes its membership: the test runs this against
// Apache ZooKeeper and against corral (tests/client/test_reconfig_apache.py, test_curator_tracks_the_ensemble).
// Args: connectString removedId removedMemberLine. Prints one line per stage: the client's current
// connection string once it holds the expected number of servers.
import java.util.Arrays;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;

public class EnsembleTracking {
    static String waitFor(CuratorFramework c, int servers) throws InterruptedException {
        String cs = "";
        for (int i = 0; i < 400; i++) { // bounded: 20 s
            cs = c.getZookeeperClient().getCurrentConnectionString();
            if (cs.split(",").length == servers) {
                return String.join(",", new TreeSet<>(Arrays.asList(cs.split(","))));
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("connection string still " + cs + ", not " + servers + " servers");
    }

    public static void main(String[] args) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(args[0])
            .retryPolicy(new RetryNTimes(100, 100)).ensembleTracker(true).sessionTimeoutMs(10000).build();
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) throw new IllegalStateException("not connected");
        c.getConfig().forEnsemble(); // the tracker reads it too; this only waits for the server to answer
        System.out.println("initial " + waitFor(c, 3));
        c.reconfig().leaving(args[1]).forEnsemble();
        System.out.println("removed " + waitFor(c, 2));
        c.reconfig().joining(args[2]).forEnsemble();
        System.out.println("restored " + waitFor(c, 3));
        c.close();
    }
}

// Logs in with pgjdbc, the driver DBeaver and DataGrip use, through the service and
// password files alone.
//
// Usage: java -cp postgresql.jar PgjdbcLogin.java SERVICE...
//
// For each service, connects to `jdbc:postgresql://?service=NAME` with no password:
// pgjdbc reads the section from PGSERVICEFILE, else ~/.pg_service.conf, and the password
// from PGPASSFILE, else ~/.pgpass, where `~` is Java's `user.home` (the home directory in
// the system's user database, not $HOME). Prints `SERVICE|current_user|inet_server_addr()`;
// a failure prints the driver's error on stderr, and the exit status is 1 if any service
// failed.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class PgjdbcLogin {
    public static void main(String[] services) {
        System.err.println("version: pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION
                + ", Java " + System.getProperty("java.version"));
        DriverManager.setLoginTimeout(10);
        boolean failed = false;
        for (String service : services) {
            try (Connection conn = DriverManager.getConnection("jdbc:postgresql://?service=" + service);
                 Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery("select current_user, host(inet_server_addr())")) {
                rs.next();
                System.out.println(service + "|" + rs.getString(1) + "|" + rs.getString(2));
            } catch (SQLException e) {
                System.err.println(service + ": " + e.getMessage());
                failed = true;
            }
        }
        System.exit(failed ? 1 : 0);
    }
}

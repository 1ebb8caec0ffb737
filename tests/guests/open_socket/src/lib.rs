//! On the row named `probe`, opens a TCP connection to the `host:port` in the row's
//! `address` (and tries a DNS lookup). Should the sandbox let it, `address` says so; when the
//! connection fails, the guest panics with the error, failing its batch.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct OpenSocket;

impl Transform for OpenSocket {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let addr = input.address.get().unwrap_or("127.0.0.1:5432");
            let lookup = match "localhost:80".to_socket_addrs() {
                Ok(found) => format!("DNS lookup found {}", found.count()),
                Err(e) => format!("DNS lookup failed: {e}"),
            };
            return match TcpStream::connect(addr) {
                Ok(mut stream) => {
                    let _ = stream.write_all(b"escaped the sandbox\n");
                    Ok(office(
                        &input,
                        Some(format!("connected to {addr}; {lookup}")),
                    ))
                }
                Err(e) => panic!("sandbox probe: connecting to {addr} failed: {e}; {lookup}"),
            };
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(OpenSocket);

//! `command_status` values of SMPP 3.4 (§5.1.3) and their names.

use std::fmt;

/// An SMPP `command_status` (SMPP 3.4 §5.1.3): `ESME_ROK` in requests and successful
/// responses, an error code otherwise. Every value of the wire fits; [`CommandStatus::name`]
/// names the ones the specification defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CommandStatus(pub u32);

impl CommandStatus {
    /// `ESME_ROK` (0x00000000): No error.
    pub const ROK: CommandStatus = CommandStatus(0x0000_0000);
    /// `ESME_RINVMSGLEN` (0x00000001): Message length is invalid.
    pub const RINVMSGLEN: CommandStatus = CommandStatus(0x0000_0001);
    /// `ESME_RINVCMDLEN` (0x00000002): Command length is invalid.
    pub const RINVCMDLEN: CommandStatus = CommandStatus(0x0000_0002);
    /// `ESME_RINVCMDID` (0x00000003): Invalid command ID.
    pub const RINVCMDID: CommandStatus = CommandStatus(0x0000_0003);
    /// `ESME_RINVBNDSTS` (0x00000004): Incorrect bind status for given command.
    pub const RINVBNDSTS: CommandStatus = CommandStatus(0x0000_0004);
    /// `ESME_RALYBND` (0x00000005): ESME already in bound state.
    pub const RALYBND: CommandStatus = CommandStatus(0x0000_0005);
    /// `ESME_RINVPRTFLG` (0x00000006): Invalid priority flag.
    pub const RINVPRTFLG: CommandStatus = CommandStatus(0x0000_0006);
    /// `ESME_RINVREGDLVFLG` (0x00000007): Invalid registered delivery flag.
    pub const RINVREGDLVFLG: CommandStatus = CommandStatus(0x0000_0007);
    /// `ESME_RSYSERR` (0x00000008): System error.
    pub const RSYSERR: CommandStatus = CommandStatus(0x0000_0008);
    /// `ESME_RINVSRCADR` (0x0000000A): Invalid source address.
    pub const RINVSRCADR: CommandStatus = CommandStatus(0x0000_000A);
    /// `ESME_RINVDSTADR` (0x0000000B): Invalid destination address.
    pub const RINVDSTADR: CommandStatus = CommandStatus(0x0000_000B);
    /// `ESME_RINVMSGID` (0x0000000C): Message ID is invalid.
    pub const RINVMSGID: CommandStatus = CommandStatus(0x0000_000C);
    /// `ESME_RBINDFAIL` (0x0000000D): Bind failed.
    pub const RBINDFAIL: CommandStatus = CommandStatus(0x0000_000D);
    /// `ESME_RINVPASWD` (0x0000000E): Invalid password.
    pub const RINVPASWD: CommandStatus = CommandStatus(0x0000_000E);
    /// `ESME_RINVSYSID` (0x0000000F): Invalid system ID.
    pub const RINVSYSID: CommandStatus = CommandStatus(0x0000_000F);
    /// `ESME_RCANCELFAIL` (0x00000011): cancel_sm failed.
    pub const RCANCELFAIL: CommandStatus = CommandStatus(0x0000_0011);
    /// `ESME_RREPLACEFAIL` (0x00000013): replace_sm failed.
    pub const RREPLACEFAIL: CommandStatus = CommandStatus(0x0000_0013);
    /// `ESME_RMSGQFUL` (0x00000014): Message queue full.
    pub const RMSGQFUL: CommandStatus = CommandStatus(0x0000_0014);
    /// `ESME_RINVSERTYP` (0x00000015): Invalid service type.
    pub const RINVSERTYP: CommandStatus = CommandStatus(0x0000_0015);
    /// `ESME_RINVNUMDESTS` (0x00000033): Invalid number of destinations.
    pub const RINVNUMDESTS: CommandStatus = CommandStatus(0x0000_0033);
    /// `ESME_RINVDLNAME` (0x00000034): Invalid distribution list name.
    pub const RINVDLNAME: CommandStatus = CommandStatus(0x0000_0034);
    /// `ESME_RINVDESTFLAG` (0x00000040): Destination flag is invalid (submit_multi).
    pub const RINVDESTFLAG: CommandStatus = CommandStatus(0x0000_0040);
    /// `ESME_RINVSUBREP` (0x00000042): Invalid submit with replace request (replace_if_present_flag set).
    pub const RINVSUBREP: CommandStatus = CommandStatus(0x0000_0042);
    /// `ESME_RINVESMCLASS` (0x00000043): Invalid esm_class field data.
    pub const RINVESMCLASS: CommandStatus = CommandStatus(0x0000_0043);
    /// `ESME_RCNTSUBDL` (0x00000044): Cannot submit to distribution list.
    pub const RCNTSUBDL: CommandStatus = CommandStatus(0x0000_0044);
    /// `ESME_RSUBMITFAIL` (0x00000045): submit_sm or submit_multi failed.
    pub const RSUBMITFAIL: CommandStatus = CommandStatus(0x0000_0045);
    /// `ESME_RINVSRCTON` (0x00000048): Invalid source address TON.
    pub const RINVSRCTON: CommandStatus = CommandStatus(0x0000_0048);
    /// `ESME_RINVSRCNPI` (0x00000049): Invalid source address NPI.
    pub const RINVSRCNPI: CommandStatus = CommandStatus(0x0000_0049);
    /// `ESME_RINVDSTTON` (0x00000050): Invalid destination address TON.
    pub const RINVDSTTON: CommandStatus = CommandStatus(0x0000_0050);
    /// `ESME_RINVDSTNPI` (0x00000051): Invalid destination address NPI.
    pub const RINVDSTNPI: CommandStatus = CommandStatus(0x0000_0051);
    /// `ESME_RINVSYSTYP` (0x00000053): Invalid system_type field.
    pub const RINVSYSTYP: CommandStatus = CommandStatus(0x0000_0053);
    /// `ESME_RINVREPFLAG` (0x00000054): Invalid replace_if_present flag.
    pub const RINVREPFLAG: CommandStatus = CommandStatus(0x0000_0054);
    /// `ESME_RINVNUMMSGS` (0x00000055): Invalid number of messages.
    pub const RINVNUMMSGS: CommandStatus = CommandStatus(0x0000_0055);
    /// `ESME_RTHROTTLED` (0x00000058): Throttling error (ESME has exceeded allowed message limits).
    pub const RTHROTTLED: CommandStatus = CommandStatus(0x0000_0058);
    /// `ESME_RINVSCHED` (0x00000061): Invalid scheduled delivery time.
    pub const RINVSCHED: CommandStatus = CommandStatus(0x0000_0061);
    /// `ESME_RINVEXPIRY` (0x00000062): Invalid message validity period (expiry time).
    pub const RINVEXPIRY: CommandStatus = CommandStatus(0x0000_0062);
    /// `ESME_RINVDFTMSGID` (0x00000063): Predefined message invalid or not found.
    pub const RINVDFTMSGID: CommandStatus = CommandStatus(0x0000_0063);
    /// `ESME_RX_T_APPN` (0x00000064): ESME receiver temporary application error code.
    pub const RX_T_APPN: CommandStatus = CommandStatus(0x0000_0064);
    /// `ESME_RX_P_APPN` (0x00000065): ESME receiver permanent application error code.
    pub const RX_P_APPN: CommandStatus = CommandStatus(0x0000_0065);
    /// `ESME_RX_R_APPN` (0x00000066): ESME receiver reject message error code.
    pub const RX_R_APPN: CommandStatus = CommandStatus(0x0000_0066);
    /// `ESME_RQUERYFAIL` (0x00000067): query_sm request failed.
    pub const RQUERYFAIL: CommandStatus = CommandStatus(0x0000_0067);
    /// `ESME_RINVOPTPARSTREAM` (0x000000C0): Error in the optional part of the PDU body.
    pub const RINVOPTPARSTREAM: CommandStatus = CommandStatus(0x0000_00C0);
    /// `ESME_ROPTPARNOTALLWD` (0x000000C1): Optional parameter not allowed.
    pub const ROPTPARNOTALLWD: CommandStatus = CommandStatus(0x0000_00C1);
    /// `ESME_RINVPARLEN` (0x000000C2): Invalid parameter length.
    pub const RINVPARLEN: CommandStatus = CommandStatus(0x0000_00C2);
    /// `ESME_RMISSINGOPTPARAM` (0x000000C3): Expected optional parameter missing.
    pub const RMISSINGOPTPARAM: CommandStatus = CommandStatus(0x0000_00C3);
    /// `ESME_RINVOPTPARAMVAL` (0x000000C4): Invalid optional parameter value.
    pub const RINVOPTPARAMVAL: CommandStatus = CommandStatus(0x0000_00C4);
    /// `ESME_RDELIVERYFAILURE` (0x000000FE): Delivery failure (used for data_sm_resp).
    pub const RDELIVERYFAILURE: CommandStatus = CommandStatus(0x0000_00FE);
    /// `ESME_RUNKNOWNERR` (0x000000FF): Unknown error.
    pub const RUNKNOWNERR: CommandStatus = CommandStatus(0x0000_00FF);

    /// Every status SMPP 3.4 defines.
    pub const ALL: [CommandStatus; 48] = [
        CommandStatus::ROK,
        CommandStatus::RINVMSGLEN,
        CommandStatus::RINVCMDLEN,
        CommandStatus::RINVCMDID,
        CommandStatus::RINVBNDSTS,
        CommandStatus::RALYBND,
        CommandStatus::RINVPRTFLG,
        CommandStatus::RINVREGDLVFLG,
        CommandStatus::RSYSERR,
        CommandStatus::RINVSRCADR,
        CommandStatus::RINVDSTADR,
        CommandStatus::RINVMSGID,
        CommandStatus::RBINDFAIL,
        CommandStatus::RINVPASWD,
        CommandStatus::RINVSYSID,
        CommandStatus::RCANCELFAIL,
        CommandStatus::RREPLACEFAIL,
        CommandStatus::RMSGQFUL,
        CommandStatus::RINVSERTYP,
        CommandStatus::RINVNUMDESTS,
        CommandStatus::RINVDLNAME,
        CommandStatus::RINVDESTFLAG,
        CommandStatus::RINVSUBREP,
        CommandStatus::RINVESMCLASS,
        CommandStatus::RCNTSUBDL,
        CommandStatus::RSUBMITFAIL,
        CommandStatus::RINVSRCTON,
        CommandStatus::RINVSRCNPI,
        CommandStatus::RINVDSTTON,
        CommandStatus::RINVDSTNPI,
        CommandStatus::RINVSYSTYP,
        CommandStatus::RINVREPFLAG,
        CommandStatus::RINVNUMMSGS,
        CommandStatus::RTHROTTLED,
        CommandStatus::RINVSCHED,
        CommandStatus::RINVEXPIRY,
        CommandStatus::RINVDFTMSGID,
        CommandStatus::RX_T_APPN,
        CommandStatus::RX_P_APPN,
        CommandStatus::RX_R_APPN,
        CommandStatus::RQUERYFAIL,
        CommandStatus::RINVOPTPARSTREAM,
        CommandStatus::ROPTPARNOTALLWD,
        CommandStatus::RINVPARLEN,
        CommandStatus::RMISSINGOPTPARAM,
        CommandStatus::RINVOPTPARAMVAL,
        CommandStatus::RDELIVERYFAILURE,
        CommandStatus::RUNKNOWNERR,
    ];

    /// The specification's name (`"ESME_RSYSERR"`, …), or `None` for a value SMPP 3.4
    /// leaves reserved or to vendors (0x400–0x4FF).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            CommandStatus::ROK => "ESME_ROK",
            CommandStatus::RINVMSGLEN => "ESME_RINVMSGLEN",
            CommandStatus::RINVCMDLEN => "ESME_RINVCMDLEN",
            CommandStatus::RINVCMDID => "ESME_RINVCMDID",
            CommandStatus::RINVBNDSTS => "ESME_RINVBNDSTS",
            CommandStatus::RALYBND => "ESME_RALYBND",
            CommandStatus::RINVPRTFLG => "ESME_RINVPRTFLG",
            CommandStatus::RINVREGDLVFLG => "ESME_RINVREGDLVFLG",
            CommandStatus::RSYSERR => "ESME_RSYSERR",
            CommandStatus::RINVSRCADR => "ESME_RINVSRCADR",
            CommandStatus::RINVDSTADR => "ESME_RINVDSTADR",
            CommandStatus::RINVMSGID => "ESME_RINVMSGID",
            CommandStatus::RBINDFAIL => "ESME_RBINDFAIL",
            CommandStatus::RINVPASWD => "ESME_RINVPASWD",
            CommandStatus::RINVSYSID => "ESME_RINVSYSID",
            CommandStatus::RCANCELFAIL => "ESME_RCANCELFAIL",
            CommandStatus::RREPLACEFAIL => "ESME_RREPLACEFAIL",
            CommandStatus::RMSGQFUL => "ESME_RMSGQFUL",
            CommandStatus::RINVSERTYP => "ESME_RINVSERTYP",
            CommandStatus::RINVNUMDESTS => "ESME_RINVNUMDESTS",
            CommandStatus::RINVDLNAME => "ESME_RINVDLNAME",
            CommandStatus::RINVDESTFLAG => "ESME_RINVDESTFLAG",
            CommandStatus::RINVSUBREP => "ESME_RINVSUBREP",
            CommandStatus::RINVESMCLASS => "ESME_RINVESMCLASS",
            CommandStatus::RCNTSUBDL => "ESME_RCNTSUBDL",
            CommandStatus::RSUBMITFAIL => "ESME_RSUBMITFAIL",
            CommandStatus::RINVSRCTON => "ESME_RINVSRCTON",
            CommandStatus::RINVSRCNPI => "ESME_RINVSRCNPI",
            CommandStatus::RINVDSTTON => "ESME_RINVDSTTON",
            CommandStatus::RINVDSTNPI => "ESME_RINVDSTNPI",
            CommandStatus::RINVSYSTYP => "ESME_RINVSYSTYP",
            CommandStatus::RINVREPFLAG => "ESME_RINVREPFLAG",
            CommandStatus::RINVNUMMSGS => "ESME_RINVNUMMSGS",
            CommandStatus::RTHROTTLED => "ESME_RTHROTTLED",
            CommandStatus::RINVSCHED => "ESME_RINVSCHED",
            CommandStatus::RINVEXPIRY => "ESME_RINVEXPIRY",
            CommandStatus::RINVDFTMSGID => "ESME_RINVDFTMSGID",
            CommandStatus::RX_T_APPN => "ESME_RX_T_APPN",
            CommandStatus::RX_P_APPN => "ESME_RX_P_APPN",
            CommandStatus::RX_R_APPN => "ESME_RX_R_APPN",
            CommandStatus::RQUERYFAIL => "ESME_RQUERYFAIL",
            CommandStatus::RINVOPTPARSTREAM => "ESME_RINVOPTPARSTREAM",
            CommandStatus::ROPTPARNOTALLWD => "ESME_ROPTPARNOTALLWD",
            CommandStatus::RINVPARLEN => "ESME_RINVPARLEN",
            CommandStatus::RMISSINGOPTPARAM => "ESME_RMISSINGOPTPARAM",
            CommandStatus::RINVOPTPARAMVAL => "ESME_RINVOPTPARAMVAL",
            CommandStatus::RDELIVERYFAILURE => "ESME_RDELIVERYFAILURE",
            CommandStatus::RUNKNOWNERR => "ESME_RUNKNOWNERR",
            _ => return None,
        })
    }

    /// True for `ESME_ROK`.
    pub fn is_ok(self) -> bool {
        self == CommandStatus::ROK
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0),
            None => write!(f, "command_status 0x{:08X}", self.0),
        }
    }
}

impl From<u32> for CommandStatus {
    fn from(status: u32) -> Self {
        CommandStatus(status)
    }
}

impl From<CommandStatus> for u32 {
    fn from(status: CommandStatus) -> Self {
        status.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_the_specification() {
        assert_eq!(CommandStatus::ROK.0, 0x00);
        assert_eq!(CommandStatus::RINVMSGLEN.0, 0x01);
        assert_eq!(CommandStatus::RINVCMDLEN.0, 0x02);
        assert_eq!(CommandStatus::RINVCMDID.0, 0x03);
        assert_eq!(CommandStatus::RINVBNDSTS.0, 0x04);
        assert_eq!(CommandStatus::RALYBND.0, 0x05);
        assert_eq!(CommandStatus::RSYSERR.0, 0x08);
        assert_eq!(CommandStatus::RBINDFAIL.0, 0x0D);
        assert_eq!(CommandStatus::RINVPASWD.0, 0x0E);
        assert_eq!(CommandStatus::RINVSYSID.0, 0x0F);
        assert_eq!(CommandStatus::RMSGQFUL.0, 0x14);
        assert_eq!(CommandStatus::RTHROTTLED.0, 0x58);
        assert_eq!(CommandStatus::RUNKNOWNERR.0, 0xFF);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = CommandStatus::ALL.iter().filter_map(|s| s.name()).collect();
        assert_eq!(names.len(), CommandStatus::ALL.len());
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CommandStatus::ALL.len());
        assert_eq!(CommandStatus(0x09).name(), None);
        assert_eq!(
            CommandStatus::RSYSERR.to_string(),
            "ESME_RSYSERR (0x00000008)"
        );
        assert_eq!(
            CommandStatus(0x400).to_string(),
            "command_status 0x00000400"
        );
    }
}

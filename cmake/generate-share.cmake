# Writes what `rollgate` prints about itself into files the install puts in place: the manual
# page and the shell completions. Run as: cmake -DBIN=rollgate -DOUT=dir -P generate-share.cmake
foreach(spec "rollgate.1;help;--man" "rollgate.bash;completion;bash" "_rollgate;completion;zsh")
    list(GET spec 0 file)
    list(SUBLIST spec 1 -1 args)
    execute_process(COMMAND ${BIN} ${args} OUTPUT_FILE ${OUT}/${file}.new RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${BIN} ${args} exited with ${rc}")
    endif()
    file(RENAME ${OUT}/${file}.new ${OUT}/${file})
endforeach()
